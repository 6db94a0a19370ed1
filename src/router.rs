//! Every route, and the middleware around them.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use rand::RngExt as _;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::path::Operation;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::admission::{self, Admission, Shed};
use crate::auth::{CallerKey, Scope};
use crate::error::{ApiError, render_problems};
use crate::handlers::{adapter, ops, sessions};
use crate::headers::{REQUEST_ID, header_name};
use crate::metrics;
use crate::openapi::{self, Documents};

/// Every documented route: the router serves them and the OpenAPI document describes them, both
/// from the handlers' `#[utoipa::path]` declarations.
pub fn api() -> OpenApiRouter<AppState> {
    use adapter as a;
    OpenApiRouter::default()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(metrics::render))
        .routes(routes!(openapi::serve))
        .routes(routes!(a::create_user))
        .routes(routes!(a::get_user))
        .routes(routes!(a::get_user_by_email))
        .routes(routes!(a::get_user_by_account))
        .routes(routes!(a::update_user))
        .routes(routes!(a::delete_user))
        .routes(routes!(a::link_account))
        .routes(routes!(a::unlink_account))
        .routes(routes!(a::create_session))
        .routes(routes!(a::get_session_and_user))
        .routes(routes!(a::update_session))
        .routes(routes!(a::delete_session))
        .routes(routes!(a::create_verification_token))
        .routes(routes!(a::use_verification_token))
        .routes(routes!(a::get_account))
        .routes(routes!(a::get_authenticator))
        .routes(routes!(a::create_authenticator))
        .routes(routes!(a::list_authenticators_by_user_id))
        .routes(routes!(a::update_authenticator_counter))
        .routes(routes!(sessions::rotate))
        .routes(routes!(sessions::list_for_user, sessions::delete_for_user))
        .routes(routes!(sessions::delete_one))
        .routes(routes!(sessions::user_stats))
        .routes(routes!(sessions::stats))
        .routes(routes!(sessions::purge_expired))
}

/// What [`api`] declares, read once: the document (both policies), the adapter's methods, the
/// paths that need no API key and the scopes of the others.
struct Declared {
    documents: Documents,
    adapter_methods: Vec<String>,
    /// Every operation declared with `security()`: the health checks.
    public_paths: Vec<String>,
    /// `(method, path template)` → the scopes that let a key call it (any one of them), from the
    /// operation's security requirements.
    scopes: HashMap<(Method, String), Vec<Scope>>,
}

/// The scopes an operation's security requirements name. Every keyed operation declares its own,
/// so that none falls back on the document's (scope-less) default by omission.
fn declared_scopes(path: &str, operation: &Operation) -> Vec<Scope> {
    let requirements = operation.security.as_deref().unwrap_or_default();
    let scopes: Vec<Scope> = requirements
        .iter()
        .flat_map(|requirement| match serde_json::to_value(requirement) {
            Ok(serde_json::Value::Object(schemes)) => schemes.into_iter().collect(),
            _ => Vec::new(),
        })
        .flat_map(|(_, scopes)| serde_json::from_value::<Vec<String>>(scopes).unwrap_or_default())
        .map(|scope| scope.parse().unwrap_or_else(|_| panic!("{path} declares an unknown scope {scope:?}")))
        .collect();
    assert!(!scopes.is_empty(), "{path} must declare the scopes that may call it in its #[utoipa::path] security");
    scopes
}

static DECLARED: LazyLock<Declared> = LazyLock::new(|| {
    let document = api().into_openapi();
    let paths = &document.paths.paths;
    let adapter_methods =
        paths.keys().filter_map(|path| path.strip_prefix(adapter::PREFIX)).map(str::to_owned).collect();
    let public_paths: Vec<String> = paths
        .iter()
        .filter(|(_, item)| {
            let operations = [&item.get, &item.put, &item.post, &item.delete, &item.patch];
            let public = |operation: &Operation| operation.security.as_ref().is_some_and(Vec::is_empty);
            operations.into_iter().flatten().all(public)
        })
        .map(|(path, _)| path.clone())
        .collect();
    let mut scopes = HashMap::new();
    for (path, item) in paths.iter().filter(|(path, _)| !public_paths.contains(path)) {
        let operations = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
            (Method::PATCH, &item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                scopes.insert((method, path.clone()), declared_scopes(path, operation));
            }
        }
    }
    Declared { documents: Documents::new(&document), adapter_methods, public_paths, scopes }
});

/// Answers without an API key, and never shed under load.
fn is_public(request: &Request) -> bool {
    DECLARED.public_paths.iter().any(|path| path == request.uri().path())
}

/// The scopes that let a key call the route `request` matched; `None` for what matched no
/// declared operation (an unknown path or adapter method, whose 404 any valid key may see).
fn route_scopes(request: &Request) -> Option<&'static [Scope]> {
    let path = request.extensions().get::<MatchedPath>()?.as_str();
    DECLARED.scopes.get(&(request.method().clone(), path.to_owned())).map(Vec::as_slice)
}

/// The methods of the Auth.js adapter, as the router serves them, in the document's order.
pub fn adapter_methods() -> &'static [String] {
    &DECLARED.adapter_methods
}

pub fn router(state: AppState) -> Router {
    // Before the first request, so that none goes uncounted.
    metrics::handle();
    let body_limit = state.settings.body_limit;
    let timeout = state.settings.request_timeout;
    let limits = Limits { max_header_bytes: state.settings.max_header_bytes };
    let settings = &state.settings;
    let admission = Admission::new(
        settings.max_concurrent_requests,
        settings.max_queued_requests,
        settings.queue_timeout,
        is_public,
    );
    let (routes, _) = api().split_for_parts();
    // Any other name under the adapter's prefix: a 404 that lists the methods (and, as for the
    // methods themselves, a 405 for anything but POST).
    let unknown_method =
        |Path(method): Path<String>| async move { adapter::unknown_method(&method, adapter_methods()) };
    routes
        .route(&format!("{}{{method}}", adapter::PREFIX), post(unknown_method))
        .fallback(|| async { ApiError::NotFound("no route matches this path".into()) })
        // One composed layer, not one `Router::layer` call each: axum boxes a route again for
        // every `layer` call, so each of the middlewares below deep-cloned the boxed stack beneath
        // it on every request (15 % of authbridge's instructions per read, bench/TUNING.md).
        // Composed, the stack is one concrete type around the route, and a clone is a copy.
        .layer(
            // Listed outermost first: the first layer sees the request first.
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(header_name(REQUEST_ID), NewRequestId))
                .layer(PropagateRequestIdLayer::new(header_name(REQUEST_ID)))
                // Outside admission control, so that an admitted request's latency includes its
                // wait in the queue; refusals are not logged one by one.
                .layer(from_fn(log_request))
                // Outside the metrics (whose labels cost a lookup per request) and the problem
                // rendering: a refusal is counted by admission control and answered with its
                // preformatted body.
                .layer(from_fn_with_state(admission, admission::admit))
                .layer(from_fn(metrics::track))
                .layer(from_fn(render_problems))
                .layer(from_fn_with_state(limits, enforce_limits))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
                .layer(from_fn_with_state(state.clone(), require_api_key))
                .layer(DefaultBodyLimit::max(body_limit))
                .layer(Extension(&DECLARED.documents)),
        )
        .with_state(state)
}

/// A new request's id: a random (version 4) UUID, as tower-http's `MakeRequestUuid` makes, but
/// drawn from the thread's random generator instead of a `getrandom` system call per request, and
/// written on the stack instead of into a `String`.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let uuid = uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid();
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// The limits checked before a request reaches the routes (admission control is in
/// [`crate::admission`]).
#[derive(Clone)]
struct Limits {
    max_header_bytes: usize,
}

/// Header size.
async fn enforce_limits(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if head_size(&request) > limits.max_header_bytes {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// The request line and header fields as sent on the wire: `name: value\r\n` each.
fn head_size(request: &Request) -> usize {
    let line = request.method().as_str().len()
        + request.uri().path_and_query().map_or(1, |target| target.as_str().len())
        + " HTTP/1.1\r\n".len();
    line + request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>()
}

/// `Authorization: Bearer <key>`, checked in constant time against every configured key
/// ([`crate::auth::ApiKeys`]), then the key's scopes against the route's. Without a valid key
/// every path (unknown ones and wrong methods included) answers the same 401: a client without a
/// key learns nothing about which routes exist. A valid key without the scope gets a 403 naming
/// it. The key's name goes into the request's extensions (for the handlers' audit lines) and the
/// response's (for the request log line and the metrics).
async fn require_api_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let keys = &state.settings.api_keys;
    if keys.is_empty() || is_public(&request) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().as_bytes());
    let Some(identity) = presented.and_then(|presented| keys.verify(presented)) else {
        return ApiError::Unauthenticated.into_response();
    };
    let caller = CallerKey(identity.name.clone());
    let mut response = match route_scopes(&request) {
        Some(needed) if !identity.scopes.allows(needed) => {
            let needed: Vec<&str> = needed.iter().map(|scope| scope.as_str()).collect();
            ApiError::Forbidden(needed.join(" ")).into_response()
        }
        _ => {
            request.extensions_mut().insert(caller.clone());
            next.run(request).await
        }
    };
    response.extensions_mut().insert(caller);
    response
}

/// One line per admitted request: method, route template (never the raw path), key name (never
/// the key), status, latency (its wait for admission included), id. Requests refused by admission
/// control get none: they are summed up once a second ([`crate::admission`]).
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // Handles, not text: a matched path is shared and an id's header value is reference-counted,
    // so the line's fields cost no allocation per request.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let id = request.extensions().get::<RequestId>().cloned();
    let response = next.run(request).await;
    if response.extensions().get::<Shed>().is_some() {
        return response;
    }
    let latency: Duration = started.elapsed();
    tracing::info!(
        target: "authbridge::request",
        %method,
        route = metrics::route_label(matched.as_ref()),
        key = CallerKey::name_in(response.extensions()),
        status = response.status().as_u16(),
        latency_us = latency.as_micros() as u64,
        request_id = id.as_ref().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-"),
        "request"
    );
    response
}

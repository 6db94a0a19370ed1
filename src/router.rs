//! Every route, and the middleware around them.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use crate::AppState;
use crate::error::{ApiError, render_problems};
use crate::handlers::{adapter, ops, sessions};
use crate::{metrics, openapi};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Routes that answer without an API key.
const PUBLIC_PATHS: [&str; 2] = ["/healthz", "/readyz"];

pub fn router(state: AppState) -> Router {
    // Before the first request, so that none goes uncounted.
    metrics::handle();
    let body_limit = state.settings.body_limit;
    let timeout = state.settings.request_timeout;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::serve))
        .route("/v1/adapter/{method}", post(adapter::call))
        .route("/v1/sessions/rotate", post(sessions::rotate))
        .route("/v1/sessions/{sessionId}", delete(sessions::delete_one))
        .route("/v1/users/{userId}/sessions", get(sessions::list_for_user).delete(sessions::delete_for_user))
        .route("/v1/users/{userId}/session-stats", get(sessions::user_stats))
        .route("/v1/stats/sessions", get(sessions::stats))
        .route("/v1/maintenance/purge-expired", post(sessions::purge_expired))
        .fallback(|| async { ApiError::NotFound("no route matches this path".into()) })
        // Listed innermost first: the last layer sees the request first.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), require_api_key))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(from_fn(render_problems))
        .layer(from_fn(log_request))
        .layer(from_fn(metrics::track))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// `Authorization: Bearer <key>`, checked in constant time against every configured key
/// ([`crate::auth::ApiKeys`]). It runs before routing, so without a valid key every path
/// (unknown ones and wrong methods included) answers the same 401: a client without a key learns
/// nothing about which routes exist.
async fn require_api_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let keys = &state.settings.api_keys;
    if keys.is_empty() || PUBLIC_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().as_bytes());
    match presented {
        Some(presented) if keys.verify(presented) => next.run(request).await,
        _ => ApiError::Unauthenticated.into_response(),
    }
}

/// One line per request: method, route template (never the raw path), status, latency, id.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = metrics::route_label(&request);
    let request_id = request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let response = next.run(request).await;
    let latency: Duration = started.elapsed();
    tracing::info!(
        target: "authbridge::request",
        %method,
        route = &*route,
        status = response.status().as_u16(),
        latency_us = latency.as_micros() as u64,
        request_id,
        "request"
    );
    response
}

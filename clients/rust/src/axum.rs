//! The axum extractor [`AuthSession`]: the request's Auth.js session, or a problem response.
//!
//! ```no_run
//! use authbridge_client::{AuthSession, Client};
//! use axum::{Json, Router, routing::get};
//!
//! async fn me(AuthSession(found): AuthSession) -> Json<String> {
//!     Json(found.user.id)
//! }
//!
//! async fn home(session: Option<AuthSession>) -> &'static str {
//!     if session.is_some() { "signed in" } else { "signed out" }
//! }
//!
//! # fn app() -> Result<Router, authbridge_client::Error> {
//! let key = std::env::var("AUTHBRIDGE_SESSION_READ_KEY").unwrap_or_default();
//! let client = Client::new("http://authbridge.internal:7777", key)?;
//! let app = Router::new().route("/me", get(me)).route("/", get(home)).with_state(client);
//! # Ok(app) }
//! ```
//!
//! - `AuthSession` answers **401** `application/problem+json` (code `unauthenticated`) when the
//!   cookie is missing, unknown or expired; `Option<AuthSession>` gives `None` instead.
//! - Both answer **503** problem `unavailable` with `Retry-After` when authbridge or its database
//!   cannot answer: an outage never looks like "signed out".
//! - Other authbridge errors (a wrong API key, a key without `session:read`) are not the
//!   visitor's fault: **500** problem `internal`, with the [`Error`] kept in the rejection
//!   ([`AuthSessionRejection::Failed`]) for the app's own logging.
//! - One authbridge call per request, however many extractors ask (the answer is kept in the
//!   request's extensions). The incoming `X-Request-Id` is passed through.
//!
//! The state gives the [`Client`] through `FromRef` (a state that is the client itself does).

use std::time::Duration;

use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::REQUEST_ID;
use crate::{Client, Error, SessionAndUser};

/// The media type of problem responses (RFC 9457).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The detail of the 401 a route answers when it needs a session and the request has none.
pub const NO_SESSION: &str = "this route needs a signed-in session: the session cookie is missing, unknown or expired";

const UNAVAILABLE_DETAIL: &str = "the session cannot be checked now; retry shortly";
const FAILED_DETAIL: &str = "the session could not be checked";
/// Seconds a client is told to wait when authbridge gave no `Retry-After` of its own.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The request's live session and its user.
#[derive(Debug, Clone)]
pub struct AuthSession(pub SessionAndUser);

impl std::ops::Deref for AuthSession {
    type Target = SessionAndUser;

    fn deref(&self) -> &SessionAndUser {
        &self.0
    }
}

/// Why [`AuthSession`] refused a request; its response is a problem document.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthSessionRejection {
    /// 401: no live session (no cookie, unknown, expired, signed out, deleted user).
    Unauthenticated { request_id: Option<String> },
    /// 503: authbridge or its database cannot answer now.
    Unavailable { request_id: Option<String>, retry_after: Option<Duration> },
    /// 500: authbridge refused the call itself (a wrong key, a missing scope, a bad answer).
    Failed { request_id: Option<String>, error: Error },
}

/// The session found for this request (or its absence), so that a second extractor makes no
/// second call.
#[derive(Clone)]
struct Checked(Option<SessionAndUser>);

/// The incoming `X-Request-Id`, passed on to authbridge and into the problem.
fn request_id(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(REQUEST_ID)?.to_str().ok()?;
    (!value.is_empty()).then(|| value.to_owned())
}

async fn check<S>(parts: &mut Parts, state: &S) -> Result<Option<SessionAndUser>, AuthSessionRejection>
where
    Client: FromRef<S>,
{
    if let Some(Checked(found)) = parts.extensions.get::<Checked>() {
        return Ok(found.clone());
    }
    let client = Client::from_ref(state);
    let request_id = request_id(parts);
    let token = client.session_token(&parts.headers);
    let client = match &request_id {
        Some(request_id) => client.with_request_id(request_id.as_str()),
        None => client,
    };
    match client.get_session_and_user(token.as_deref()).await {
        Ok(found) => {
            parts.extensions.insert(Checked(found.clone()));
            Ok(found)
        }
        Err(Error::Unavailable(failure)) => {
            Err(AuthSessionRejection::Unavailable { request_id, retry_after: failure.retry_after })
        }
        Err(error) => Err(AuthSessionRejection::Failed { request_id, error }),
    }
}

impl<S> FromRequestParts<S> for AuthSession
where
    Client: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthSessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match check(parts, state).await? {
            Some(found) => Ok(Self(found)),
            None => Err(AuthSessionRejection::Unauthenticated { request_id: request_id(parts) }),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for AuthSession
where
    Client: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthSessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(check(parts, state).await?.map(Self))
    }
}

impl IntoResponse for AuthSessionRejection {
    fn into_response(self) -> Response {
        let (status, code, detail, request_id, retry_after) = match self {
            Self::Unauthenticated { request_id } => {
                (StatusCode::UNAUTHORIZED, "unauthenticated", NO_SESSION, request_id, None)
            }
            Self::Unavailable { request_id, retry_after } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                UNAVAILABLE_DETAIL,
                request_id,
                Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
            ),
            Self::Failed { request_id, .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", FAILED_DETAIL, request_id, None)
            }
        };
        let mut response = Response::new(Body::from(problem(status, code, detail, request_id.as_deref())));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        if let Some(retry_after) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
        }
        response
    }
}

/// A problem shaped like authbridge's own (`type`, `title`, `status`, `detail`, `code`,
/// `requestId`).
fn problem(status: StatusCode, code: &str, detail: &str, request_id: Option<&str>) -> String {
    let mut body = serde_json::json!({
        "type": format!("https://authbridge.dev/problems/{code}"),
        "title": status.canonical_reason().unwrap_or_default(),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    if let Some(request_id) = request_id {
        body["requestId"] = request_id.into();
    }
    body.to_string()
}

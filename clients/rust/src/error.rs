//! Errors: every non-2xx answer and every failed exchange is an [`Error`]; none turns into `None`.
//!
//! An outage must never look like "signed out": `Ok(None)` from
//! [`Client::get_session_and_user`](crate::Client::get_session_and_user) means authbridge answered
//! that there is no such live session, nothing else.
//!
//! Messages carry the operation, the problem's code, status, field and detail (which authbridge
//! keeps free of submitted values) and the request id: never a token, key or email.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::REQUEST_ID;

/// A connection refused or reset, DNS, TLS: no answer arrived.
pub const NETWORK_ERROR: &str = "network_error";
/// No answer within the client's timeout.
pub const TIMEOUT: &str = "timeout";
/// An answer that is not the contract's (a 2xx body of the wrong shape, an error without a problem).
pub const INVALID_RESPONSE: &str = "invalid_response";
/// A call refused before any request was sent (an empty id, a URL that is not http(s)).
pub const INVALID_ARGUMENT: &str = "invalid_argument";
/// The problem code of a 503, also given to a proxy's 502/504 without a problem document.
pub const UNAVAILABLE: &str = "unavailable";

/// A failed call to authbridge. The variant says what the caller can do about it; the
/// [`Failure`] inside (also reachable through the accessors on `Error`) says what happened.
/// Boxed: a `Result<_, Error>` stays one pointer wide on its error side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// authbridge or its database cannot answer now; retrying later may succeed: a 503 (database
    /// unreachable or locked, pool exhausted, overload), a 502 or 504 from a proxy in front of
    /// it, a refused or broken connection (`network_error`) or no answer in time (`timeout`).
    #[error("{0}")]
    Unavailable(Box<Failure>),
    /// 401: the API key is missing or wrong (a configuration error, not a signed-out user).
    #[error("{0}")]
    Unauthenticated(Box<Failure>),
    /// 403: the key is valid but lacks the scope this call needs (e.g. `sessions:manage`).
    #[error("{0}")]
    Forbidden(Box<Failure>),
    /// Anything else: `invalid_argument` (400, with [`Failure::field`]; or refused before
    /// sending, without a status), `internal` (500), `invalid_response`, ...
    #[error("{0}")]
    Other(Box<Failure>),
}

/// What went wrong in one call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The call that failed (`getSessionAndUser`, `listSessions`, ...).
    pub operation: &'static str,
    /// The problem's `code` (`invalid_argument`, `unauthenticated`, `forbidden`, `unavailable`,
    /// ...), or [`NETWORK_ERROR`], [`TIMEOUT`], [`INVALID_RESPONSE`].
    pub code: String,
    /// The HTTP status; `None` when no answer arrived or nothing was sent.
    pub status: Option<StatusCode>,
    /// The service's explanation.
    pub detail: Option<String>,
    /// The exchange's `X-Request-Id`, to find it in authbridge's log.
    pub request_id: Option<String>,
    /// For a 400, the path of the offending field (`session.userId`).
    pub field: Option<String>,
    /// The answer's `Retry-After` (503).
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub(crate) fn new(operation: &'static str, code: &str) -> Self {
        Self {
            operation,
            code: code.to_owned(),
            status: None,
            detail: None,
            request_id: None,
            field: None,
            retry_after: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "authbridge {} failed: {}", self.operation, self.code)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {})", status.as_u16())?;
        }
        if let Some(field) = &self.field {
            write!(f, " field {field}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, " - {detail}")?;
        }
        if let Some(request_id) = &self.request_id {
            write!(f, " [request {request_id}]")?;
        }
        Ok(())
    }
}

impl Error {
    /// What went wrong, whatever the variant.
    pub fn failure(&self) -> &Failure {
        match self {
            Self::Unavailable(failure)
            | Self::Unauthenticated(failure)
            | Self::Forbidden(failure)
            | Self::Other(failure) => failure,
        }
    }

    /// See [`Failure::code`].
    pub fn code(&self) -> &str {
        &self.failure().code
    }

    /// See [`Failure::status`].
    pub fn status(&self) -> Option<StatusCode> {
        self.failure().status
    }

    /// See [`Failure::request_id`].
    pub fn request_id(&self) -> Option<&str> {
        self.failure().request_id.as_deref()
    }

    /// Whether retrying later may succeed ([`Error::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn invalid_argument(operation: &'static str, field: &str, detail: &str) -> Self {
        Self::Other(Box::new(Failure {
            field: Some(field.to_owned()),
            detail: Some(detail.to_owned()),
            ..Failure::new(operation, INVALID_ARGUMENT)
        }))
    }

    /// The error for a non-2xx answer, from its problem document when it has one.
    pub(crate) fn from_response(operation: &'static str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let is_json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains("json"));
        let problem =
            if is_json { serde_json::from_slice::<Problem>(body).unwrap_or_default() } else { Problem::default() };
        let unavailable =
            matches!(status, StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT);
        let code = match (problem.code, unavailable) {
            (Some(code), _) => code,
            // A proxy's HTML page: still an outage.
            (None, true) => UNAVAILABLE.to_owned(),
            (None, false) => INVALID_RESPONSE.to_owned(),
        };
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let failure = Failure {
            operation,
            status: Some(status),
            detail: problem.detail.or(problem.title),
            request_id: problem.request_id.or_else(|| header(REQUEST_ID)),
            field: problem.field,
            // authbridge sends delta-seconds; an HTTP date (from a proxy) is not worth parsing.
            retry_after: header("retry-after").and_then(|value| value.trim().parse().ok()).map(Duration::from_secs),
            code,
        };
        let failure = Box::new(failure);
        match failure.code.as_str() {
            _ if unavailable => Self::Unavailable(failure),
            "unauthenticated" => Self::Unauthenticated(failure),
            "forbidden" => Self::Forbidden(failure),
            _ => Self::Other(failure),
        }
    }

    /// The error for an exchange that produced no answer.
    pub(crate) fn from_transport(operation: &'static str, error: reqwest::Error, request_id: Option<&str>) -> Self {
        let code = if error.is_timeout() { TIMEOUT } else { NETWORK_ERROR };
        let is_builder = error.is_builder();
        let failure = Failure {
            // The chain of causes ("client error (Connect)", "tcp connect error", "Connection
            // refused") without the URL, which may carry a user id.
            detail: Some(causes(&error.without_url())),
            request_id: request_id.map(str::to_owned),
            ..Failure::new(operation, code)
        };
        let failure = Box::new(failure);
        if is_builder { Self::Other(failure) } else { Self::Unavailable(failure) }
    }
}

fn causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The members of authbridge's RFC 9457 problem that a client reads; each may be missing or of
/// another type in a proxy's answer, hence the lenient parsing.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    #[serde(default, deserialize_with = "text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    detail: Option<String>,
    #[serde(default, deserialize_with = "text")]
    request_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    field: Option<String>,
}

/// A non-empty string, else `None` (never a parse failure).
fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::String(text) if !text.is_empty() => Some(text),
        _ => None,
    })
}

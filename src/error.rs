//! The one error type of the HTTP layer, rendered once as RFC 9457 `application/problem+json`.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only sets the status and stores the error in
//! the response extensions. [`render_problems`] (a middleware) then writes the body with the
//! request id, and also turns the framework's own error responses (unknown route, wrong method,
//! body too large, timeout) into the same shape.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::request_id::RequestId;

use crate::db;
use crate::headers::PROBLEM_JSON;
/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Each variant is one problem of the catalogue in the OpenAPI document ([`ApiError::catalogue`]),
/// named after the variant.
#[derive(Debug, Clone, thiserror::Error, strum::EnumIter, strum::IntoStaticStr)]
pub enum ApiError {
    #[error("{detail}")]
    InvalidArgument { detail: String, field: Option<String> },
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthenticated,
    /// A valid key without the scope the route needs; holds the scopes that would do,
    /// space-separated (RFC 6750's `scope` syntax).
    #[error("this API key lacks the scope this route needs: {0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not support the request's HTTP method")]
    MethodNotAllowed,
    #[error("{0}")]
    AlreadyExists(String),
    #[error("the request body is larger than the configured limit")]
    PayloadTooLarge,
    #[error("the request line and headers are larger than the configured limit")]
    HeadersTooLarge,
    #[error("the request body must be JSON: send `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("the request took longer than the configured timeout")]
    RequestTimeout,
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error; the server log has the details")]
    Internal,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::InvalidArgument { detail: detail.into(), field: Some(field.into()) }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "invalid_argument",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::AlreadyExists(_) => "already_exists",
            Self::PayloadTooLarge => "payload_too_large",
            Self::HeadersTooLarge => "headers_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::FailedPrecondition(_) => "failed_precondition",
            Self::RequestTimeout => "request_timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::AlreadyExists(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::FailedPrecondition(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "Invalid argument",
            Self::Unauthenticated => "Unauthenticated",
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::AlreadyExists(_) => "Already exists",
            Self::PayloadTooLarge => "Payload too large",
            Self::HeadersTooLarge => "Request header fields too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::FailedPrecondition(_) => "Failed precondition",
            Self::RequestTimeout => "Request timeout",
            Self::Unavailable(_) => "Service unavailable",
            Self::Internal => "Internal error",
        }
    }

    /// What a client should read into this problem, for the OpenAPI document.
    fn meaning(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => {
                "malformed JSON, a wrong type, an unknown key, a bad date, an empty or too long string; `field` names \
                 the offending field."
            }
            Self::Unauthenticated => "the bearer key is missing or wrong.",
            Self::Forbidden(_) => {
                "the key is valid but lacks the scope the route needs; `scope` lists the scopes that would do."
            }
            Self::NotFound(_) => "the row the call needs does not exist.",
            Self::MethodNotAllowed => "this path does not take this HTTP method.",
            Self::AlreadyExists(_) => {
                "a unique key clashes (Prisma P2002); `detail` names the constraint, never the value."
            }
            Self::PayloadTooLarge => "the body is larger than --body-limit.",
            Self::HeadersTooLarge => {
                "the request line and headers are larger than --max-header-bytes. A head more than 8 KiB over \
                 that limit, or with more than 100 header fields, is refused by the HTTP parser before routing: \
                 431 with an empty body, and the connection is closed."
            }
            Self::UnsupportedMediaType => "the body is not sent as `application/json`.",
            Self::FailedPrecondition(_) => {
                "a referenced row is missing, e.g. no user has this `userId` (Prisma P2003)."
            }
            Self::RequestTimeout => "the request took longer than --request-timeout-ms.",
            Self::Unavailable(_) => {
                "the database is unreachable or every connection is busy, or more than --max-concurrent-requests \
                 requests are in progress; retry after Retry-After seconds."
            }
            Self::Internal => "an unexpected error; the details are in the server log only.",
        }
    }

    /// The header this problem adds to the answer, with what it holds.
    fn header(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Unauthenticated => Some(("WWW-Authenticate", "`Bearer`.")),
            Self::Forbidden(_) => Some(("WWW-Authenticate", "`Bearer error=\"insufficient_scope\", scope=\"…\"`.")),
            Self::MethodNotAllowed => Some(("Allow", "The methods this path takes.")),
            Self::Unavailable(_) => Some(("Retry-After", "Seconds to wait before retrying.")),
            _ => None,
        }
    }

    /// Every problem an answer may be, for the OpenAPI document: one per variant.
    pub fn catalogue() -> impl Iterator<Item = ProblemKind> {
        <Self as strum::IntoEnumIterator>::iter().map(|error| ProblemKind {
            name: (&error).into(),
            code: error.code(),
            status: error.status().as_u16(),
            description: format!("`{}`: {}", error.code(), error.meaning()),
            header: error.header(),
        })
    }

    /// For error responses produced outside our handlers (router, body limit, timeout layers).
    fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::NotFound("no route matches this path".into()),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Self::HeadersTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::REQUEST_TIMEOUT => Self::RequestTimeout,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable("the service is overloaded; retry shortly".into()),
            s if s.is_client_error() => {
                Self::InvalidArgument { detail: "the request is malformed".into(), field: None }
            }
            _ => Self::Internal,
        }
    }
}

/// One entry of [`ApiError::catalogue`].
pub struct ProblemKind {
    /// The variant's name.
    pub name: &'static str,
    pub code: &'static str,
    pub status: u16,
    pub description: String,
    /// A header the answer carries, and its description.
    pub header: Option<(&'static str, &'static str)>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Forbidden(scope) => {
                // Scope names are ours (a fixed list), so this is always a valid header value.
                let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
            }
            _ => {}
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<db::Error> for ApiError {
    fn from(err: db::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as E};
        if err.is_unavailable() {
            tracing::warn!(error = %err, "database unavailable");
            return Self::Unavailable("the database is unavailable or every connection is busy; retry shortly".into());
        }
        match &err {
            db::Error::TooLong(too_long) => Self::invalid(too_long.field(), too_long.to_string()),
            db::Error::Query(E::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
                // The constraint name says which key clashed; PostgreSQL's message `details` would
                // quote the value (an email, a token), so it is never used.
                let what = info
                    .constraint_name()
                    .map(str::to_owned)
                    .or_else(|| sqlite_constraint(info.message()))
                    .or_else(|| mysql_constraint(info.message()));
                Self::AlreadyExists(match what {
                    Some(key) => format!("a row with the same unique key already exists ({key})"),
                    None => "a row with the same unique key already exists".into(),
                })
            }
            // MySQL strict mode, behind the length check made before every write: only reached
            // when the schema changed after start-up. The message names the column, not the value.
            db::Error::Query(E::DatabaseError(_, info)) if info.message().starts_with("Data too long for column") => {
                Self::InvalidArgument { detail: format!("a value is too long: {}", info.message()), field: None }
            }
            // The same answer whether the database's foreign key or authbridge found it.
            db::Error::Query(E::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) | db::Error::MissingUser => {
                Self::FailedPrecondition("a referenced row does not exist (no user has this userId)".into())
            }
            // Not the caller's fault, but no 500 either: the row cannot be served until an operator
            // restores the key or the value. The error names the row and column, never the value.
            db::Error::Undecryptable(undecryptable) => {
                tracing::error!(error = %undecryptable, "a stored OAuth token does not open with --encryption-keys");
                Self::FailedPrecondition(format!(
                    "the stored {} of this account cannot be decrypted with the configured encryption keys",
                    undecryptable.column
                ))
            }
            _ => {
                tracing::error!(error = %err, "database error");
                Self::Internal
            }
        }
    }
}

/// SQLite says `UNIQUE constraint failed: users.email`: table and column names, no values.
fn sqlite_constraint(message: &str) -> Option<String> {
    message.strip_prefix("UNIQUE constraint failed: ").map(str::to_owned)
}

/// MySQL says `Duplicate entry 'a@b.c' for key 'users_email_key'` (MySQL 8:
/// `'users.users_email_key'`): only the key name is kept, never the quoted value.
fn mysql_constraint(message: &str) -> Option<String> {
    let (_, key) = message.strip_prefix("Duplicate entry ")?.rsplit_once(" for key '")?;
    let key = key.strip_suffix('\'')?;
    Some(key.rsplit_once('.').map_or(key, |(_, name)| name).to_owned())
}

/// An RFC 9457 problem: every non-2xx answer has this body, as `application/problem+json`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Problem<'a> {
    /// `https://authbridge.dev/problems/<code>` (an identifier, not a page).
    #[serde(rename = "type")]
    type_: String,
    title: &'a str,
    status: u16,
    detail: String,
    // The document describes it with the codes of `ApiError::catalogue` (openapi.rs).
    code: &'a str,
    /// With `invalid_argument`: the path of the offending field, e.g. `session.userId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// With `forbidden`: the scopes that would let the key call the route, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    /// Equals the `X-Request-Id` response header.
    request_id: Option<&'a str>,
}

/// Renders every error response as a problem document carrying the request id.
pub async fn render_problems(request: Request, next: Next) -> Response {
    // The id as a reference-counted header value: only an error answer turns it into text.
    let id = request.extensions().get::<RequestId>().cloned();
    let mut response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let request_id = id.as_ref().and_then(|id| id.header_value().to_str().ok());
    let error = response.extensions_mut().remove::<ApiError>().unwrap_or_else(|| ApiError::from_status(status));
    let field = match &error {
        ApiError::InvalidArgument { field, .. } => field.as_deref(),
        _ => None,
    };
    let scope = match &error {
        ApiError::Forbidden(scope) => Some(scope.as_str()),
        _ => None,
    };
    let problem = Problem {
        type_: format!("https://authbridge.dev/problems/{}", error.code()),
        title: error.title(),
        status: status.as_u16(),
        detail: error.to_string(),
        code: error.code(),
        field,
        scope,
        request_id,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(body);
    response
}

/// The answer to a request refused by admission control (src/admission.rs): the problem
/// `render_problems` would write for [`ApiError::Unavailable`] with `detail`, serialised once; per
/// refusal only the request id is spliced in. Under overload refusals come by the ten thousand a
/// second, so they skip the per-request JSON building and the router's other layers.
pub struct Refusal {
    /// The body up to the request id's value, and from just after it.
    head: String,
    tail: String,
}

impl Refusal {
    /// Stands in for the request id while the body is serialised; JSON-escaping leaves it as is.
    const MARK: &'static str = "@@authbridge-request-id@@";

    pub fn new(detail: &str) -> Self {
        let error = ApiError::Unavailable(detail.to_owned());
        let problem = Problem {
            type_: format!("https://authbridge.dev/problems/{}", error.code()),
            title: error.title(),
            status: error.status().as_u16(),
            detail: error.to_string(),
            code: error.code(),
            field: None,
            scope: None,
            request_id: Some(Self::MARK),
        };
        let body = serde_json::to_string(&problem).expect("a problem serialises");
        let marked = serde_json::to_string(Self::MARK).expect("a string serialises");
        let (head, tail) = body.split_once(&marked).expect("the body holds the mark");
        Self { head: head.to_owned(), tail: tail.to_owned() }
    }

    /// The 503 with `Retry-After` and the problem body for `request_id` (`null` without one).
    pub fn respond(&self, request_id: Option<&HeaderValue>) -> Response {
        let id = request_id.and_then(|id| id.to_str().ok()).and_then(|id| serde_json::to_string(id).ok());
        let id = id.as_deref().unwrap_or("null");
        let mut body = String::with_capacity(self.head.len() + id.len() + self.tail.len());
        body.push_str(&self.head);
        body.push_str(id);
        body.push_str(&self.tail);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        response
    }
}

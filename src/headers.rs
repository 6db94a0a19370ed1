//! Names that cross module lines: header names and media types, as the document and the docs
//! spell them (HTTP compares header names without regard to case).

use axum::http::HeaderName;

/// The request's id: the client's own, or a new UUID; echoed on every answer.
pub const REQUEST_ID: &str = "X-Request-Id";
/// The `user` / `account` keys that were dropped because they have no column.
pub const IGNORED_FIELDS: &str = "AuthBridge-Ignored-Fields";

pub const JSON: &str = "application/json";
/// RFC 9457: every non-2xx answer has this body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `name` as a [`HeaderName`], which is always lower case.
pub fn header_name(name: &'static str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).expect("the names above are valid header names")
}

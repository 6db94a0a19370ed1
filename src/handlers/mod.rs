pub mod adapter;
pub mod input;
pub mod ops;
pub mod sessions;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::headers::JSON;

/// The first allocation of an answer's body: a session with its user is 300 to 500 bytes.
const ANSWER_CAPACITY: usize = 512;

/// A JSON answer. axum's `Json` writes into a 128-byte buffer that a session read's answer
/// outgrows twice (two reallocations and copies per read); this one starts at
/// [`ANSWER_CAPACITY`]. A value that does not serialise (none of ours can fail) is a logged 500
/// problem, not axum's plain-text one.
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(ANSWER_CAPACITY);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => ([(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "an answer did not serialise");
                ApiError::Internal.into_response()
            }
        }
    }
}

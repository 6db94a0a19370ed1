//! authbridge for Rust: check the Auth.js / next-auth session cookie of a Next.js front end from
//! a Rust back end, and manage sessions, through authbridge's HTTP API.
//!
//! - [`Client`]: [`Client::get_session_and_user`] and the session-management calls.
//! - [`session_token_from_cookies`]: the session token in a `Cookie` header (Auth.js v5 and
//!   next-auth v4 names, `__Secure-` forms, chunked cookies).
//! - [`AuthSession`] (feature `axum`, on by default): an axum extractor answering 401 / 503
//!   problems.
//!
//! See the crate's README for the whole story.

/// The header that carries a request's id between the app, this client and authbridge.
const REQUEST_ID: &str = "x-request-id";

#[cfg(feature = "axum")]
pub mod axum;
mod client;
mod cookies;
mod error;
mod models;

#[cfg(feature = "axum")]
pub use crate::axum::{AuthSession, AuthSessionRejection};
pub use crate::client::{Client, ClientBuilder, DEFAULT_TIMEOUT, Rotation, SessionCheck, SessionFilter};
pub use crate::cookies::{
    SESSION_COOKIE_NAMES, parse_cookie_header, session_token_from_cookies, session_token_from_cookies_named,
    session_token_from_headers,
};
pub use crate::error::{Error, Failure, INVALID_ARGUMENT, INVALID_RESPONSE, NETWORK_ERROR, TIMEOUT, UNAVAILABLE};
pub use crate::models::{
    PurgeResult, Session, SessionAndUser, SessionContext, SessionInfo, SessionStats, User, UserSessionStats,
};

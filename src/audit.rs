//! The audit trail: one line on the target [`TARGET`] for every management or destructive action
//! that took effect, naming who (the key's name, never the key), what ([`Action`]), on which user
//! and/or session (their ids, never a token or an email), how many rows it deleted or changed, and
//! the request id. docs/security.md describes the line and how to send it to a sink of its own.
//!
//! A line is written only once the action's transaction has committed: an action that fails (and
//! so rolls back) leaves none. An action that matched nothing (a `deleteSession` of an unknown
//! token) still leaves its line, with `rows=0`: the attempt is what an auditor wants to see.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tower_http::request_id::RequestId;

use crate::auth::CallerKey;

/// The `tracing` target of the audit lines.
pub const TARGET: &str = "authbridge::audit";

/// What was done. The names are the operation ids of the routes that do it (`/openapi.json`),
/// `evictSessions` for the sessions `--max-sessions-per-user` deletes at sign-in, and
/// `session_token_reuse` for reuse detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "camelCase")]
pub enum Action {
    /// `deleteUser`: the user (its sessions, accounts and authenticators go with it).
    DeleteUser,
    /// `unlinkAccount`.
    UnlinkAccount,
    /// `deleteSession`: sign-out by token.
    DeleteSession,
    /// `POST /v1/sessions/rotate`.
    RotateSession,
    /// `DELETE /v1/users/{userId}/sessions`: sign out everywhere (but one).
    DeleteUserSessions,
    /// `DELETE /v1/sessions/{sessionId}`.
    DeleteSessionById,
    /// The purge of expired rows: the route, `authbridge purge-expired` and the background task.
    PurgeExpired,
    /// A sign-in beyond `--max-sessions-per-user` deleted the user's oldest sessions. Logged only
    /// when it deleted some: a sign-in within the limit is no destructive action.
    EvictSessions,
    /// A rotated-out session token presented after its grace window (see [`crate::rotation`]):
    /// the session was revoked (rows=1) or, with `--rotation-reuse ignore`, left alone (rows=0).
    /// Named as the issue and docs name the event rather than after a route: any route that takes
    /// a token can detect it.
    #[strum(serialize = "session_token_reuse")]
    SessionTokenReuse,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The user and session an action touched, where known: ids read from the rows it found, never
/// the text a request sent that matched nothing (a token sent in the wrong field, say).
#[derive(Debug, Default, Clone, Copy)]
pub struct Subject<'a> {
    pub user_id: Option<&'a str>,
    /// The session row's `id`, never its token.
    pub session_id: Option<&'a str>,
}

impl<'a> Subject<'a> {
    pub fn user(user_id: Option<&'a str>) -> Self {
        Self { user_id, session_id: None }
    }

    pub fn session(user_id: &'a str, session_id: &'a str) -> Self {
        Self { user_id: Some(user_id), session_id: Some(session_id) }
    }

    pub fn none() -> Self {
        Self::default()
    }
}

/// Who acts: the key's name and the request's id, taken from a request (the key's name is
/// [`CallerKey::NONE`] when the service asks for no key); or the command line or the background
/// task, which have no key and no request.
#[derive(Debug, Clone)]
pub struct Actor {
    key: String,
    request_id: Option<String>,
}

impl Actor {
    /// The key name of the actions of `authbridge` commands (`purge-expired`).
    pub const COMMAND: &str = "cli";
    /// The key name of the background purge (`--purge-interval`).
    pub const BACKGROUND: &str = "background";

    pub fn command() -> Self {
        Self { key: Self::COMMAND.to_owned(), request_id: None }
    }

    pub fn background() -> Self {
        Self { key: Self::BACKGROUND.to_owned(), request_id: None }
    }

    /// The key's name, or [`Self::COMMAND`] / [`Self::BACKGROUND`].
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Writes the audit line of `action`, which has committed and affected `rows` rows.
    pub fn record(&self, action: Action, subject: Subject<'_>, rows: u64) {
        tracing::info!(
            target: TARGET,
            key = self.key.as_str(),
            action = action.as_str(),
            user_id = subject.user_id,
            session_id = subject.session_id,
            rows,
            request_id = self.request_id.as_deref(),
            "audit"
        );
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let request_id = parts.extensions.get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
        Ok(Self { key: CallerKey::name_in(&parts.extensions).to_owned(), request_id: request_id.map(str::to_owned) })
    }
}

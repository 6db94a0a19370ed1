//! What authbridge answers, as typed values.
//!
//! Parsing is strict about what the contract promises (types, RFC 3339 dates with an offset) and
//! lenient about what it may add: unknown keys are ignored, so a newer server never breaks an
//! older client. Fields the contract adds later (the session metadata of [`SessionInfo`]) are
//! optional and `None` when absent.
//!
//! `Debug` never shows a session token or an email address: values like these end up in logs.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An Auth.js user.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    /// Personal data: left out of `Debug`.
    pub email: Option<String>,
    pub email_verified: Option<DateTime<Utc>>,
    pub image: Option<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email_verified", &self.email_verified)
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

/// An Auth.js session.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Session {
    pub id: String,
    /// The cookie's value, a credential: left out of `Debug`.
    pub session_token: String,
    pub user_id: String,
    pub expires: DateTime<Utc>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// What a valid session cookie resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SessionAndUser {
    pub session: Session,
    pub user: User,
}

/// A session as the management routes show it: never with its token.
///
/// The metadata fields are filled when the team's Prisma `Session` model has the matching
/// optional columns (API.md, "Session metadata"); otherwise, and with servers that predate them,
/// they are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionInfo {
    pub id: String,
    pub user_id: String,
    pub expires: DateTime<Utc>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The last rotation's time: `None` for a session never rotated, or where the schema lacks
    /// the optional rotation columns (`previousSessionToken`, `rotatedAt`).
    #[serde(default)]
    pub rotated_at: Option<DateTime<Utc>>,
}

/// Where a sign-in or rotation came from, stored by servers that keep session metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// `GET /v1/users/{userId}/session-stats`; `total_sessions` and `latest_expires` count expired
/// sessions too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserSessionStats {
    pub total_sessions: u64,
    pub active_sessions: u64,
    pub expired_sessions: u64,
    pub latest_expires: Option<DateTime<Utc>>,
}

/// `GET /v1/stats/sessions`: one scan of the sessions table, for dashboards.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionStats {
    pub active_sessions: u64,
    pub expired_sessions: u64,
    pub users_with_active_sessions: u64,
    pub expiring_within_24h: u64,
}

/// `POST /v1/maintenance/purge-expired`: the rows one purge run deleted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PurgeResult {
    pub sessions_deleted: u64,
    pub verification_tokens_deleted: u64,
}

/// `{"deleted": n}` of `DELETE /v1/users/{userId}/sessions`.
#[derive(Deserialize)]
pub(crate) struct Deleted {
    pub(crate) deleted: u64,
}

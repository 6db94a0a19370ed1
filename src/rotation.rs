//! A rotated-out session token: its grace window and reuse detection (docs/session-management.md,
//! "Rotation").
//!
//! Where the schema has the optional `previousSessionToken` and `rotatedAt` columns, a rotation
//! keeps the old token in `previousSessionToken`. A browser's requests already in flight carry it:
//! for [`Policy::grace`] after the rotation it still reads the session (never the new token). Past
//! that, whoever presents it is not the browser that took the new cookie, so two parties hold the
//! session: it is revoked (or, with [`Reuse::Ignore`], only logged and counted), and the answer is
//! `null`.
//!
//! Only a token that matched no current session comes here, so the hot path pays nothing; a miss
//! pays one indexed lookup more.

use std::time::Duration;

use chrono::TimeDelta;
use clap::ValueEnum;
use metrics::counter;

use crate::AppState;
use crate::audit::{Action, Actor, Subject};
use crate::cache::Change;
use crate::db::DbTime;
use crate::error::ApiError;
use crate::models::sessions::{self, Session};
use crate::models::users::User;

/// `--rotation-grace`'s default.
pub const DEFAULT_GRACE: &str = "30s";

/// Reads answered through a previous token inside its grace window.
pub const GRACE_READS: &str = "authbridge_session_rotation_grace_reads_total";
/// Previous tokens presented after their grace window, by `outcome` (`revoked`, `ignored`).
pub const REUSE_DETECTED: &str = "authbridge_session_token_reuse_total";

/// What a previous token presented after its grace window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Reuse {
    /// Delete the session: both holders are signed out.
    #[default]
    Revoke,
    /// Answer `null` for that token, log and count it; the session lives on.
    Ignore,
}

impl Reuse {
    fn outcome(self) -> &'static str {
        match self {
            Self::Revoke => "revoked",
            Self::Ignore => "ignored",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub grace: Duration,
    pub reuse: Reuse,
}

impl Default for Policy {
    fn default() -> Self {
        let grace = humantime::parse_duration(DEFAULT_GRACE).expect("the default grace is a duration");
        Self { grace, reuse: Reuse::default() }
    }
}

/// Describes the metrics, registered up front so that a dashboard sees 0 rather than no data.
pub fn describe() {
    metrics::describe_counter!(
        GRACE_READS,
        "Session reads answered through a rotated-out token inside its grace window."
    );
    metrics::describe_counter!(
        REUSE_DETECTED,
        "Rotated-out session tokens presented after their grace window, by outcome (revoked, ignored)."
    );
    counter!(GRACE_READS).increment(0);
    for reuse in Reuse::value_variants() {
        counter!(REUSE_DETECTED, "outcome" => reuse.outcome()).increment(0);
    }
}

/// Looks `token` up as a previous token (nothing to do where the schema lacks the columns):
/// inside its window it answers the session (with the token as sent) and its user; after it, the
/// policy applies, with its audit line, and the answer is `None` as for no session at all.
pub async fn previous_token(
    state: &AppState,
    actor: &Actor,
    token: &str,
    now: DbTime,
) -> Result<Option<(Session, User)>, ApiError> {
    let db = &state.db;
    if !sessions::keeps_previous_tokens(db) {
        return Ok(None);
    }
    let Some(found) = sessions::find_by_previous_token(db, token, now).await? else { return Ok(None) };
    let policy = state.settings.rotation;
    let window_end = TimeDelta::from_std(policy.grace).ok().and_then(|grace| found.rotated_at?.checked_add(grace));
    if window_end.is_some_and(|end| now < end) {
        counter!(GRACE_READS).increment(1);
        return Ok(Some((found.session, found.user)));
    }
    let revoked = match policy.reuse {
        Reuse::Revoke => sessions::revoke_reused(db, &found.session.id, token).await?,
        Reuse::Ignore => false,
    };
    counter!(REUSE_DETECTED, "outcome" => policy.reuse.outcome()).increment(1);
    actor.record(
        Action::SessionTokenReuse,
        Subject::session(&found.session.user_id, &found.session.id),
        u64::from(revoked),
    );
    if revoked {
        state.written(&[Change::Session(found.session.id)]);
    }
    Ok(None)
}

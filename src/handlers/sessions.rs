//! Session management beyond the Auth.js contract: rotation, a user's devices, signing out
//! everywhere, statistics and purging expired rows.
//!
//! Only rotation answers with a session token (the new one, which the caller must set as the
//! cookie); every other route shows sessions as `SessionInfo` (id, userId, expires).

#![allow(unused_qualifications, reason = "`#[utoipa::path]` spells out the paths of the types it is given")]

use std::num::NonZeroU32;

use super::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::adapter::token_changes;
use super::input::{
    ApiJson, Key, MaxAge, QueryFlag, QueryNumber, SessionContext, optional_seconds, parse_query, path_key, whole_opt,
};
use crate::AppState;
use crate::audit::{Action, Actor, Subject};
use crate::cache::Change;
use crate::config::MAX_PURGE_BATCH_SIZE;
use crate::error::ApiError;
use crate::models::sessions::{self, Session, SessionInfo, SessionStats, UserSessionStats, new_session_token};
use crate::openapi::SESSIONS;
use crate::purge::{self, Purged};
use crate::rotation;

/// `GET /v1/users/{userId}/sessions` answers at most this many sessions (newest expiry first),
/// unless `?limit=` asks for fewer.
pub const MAX_LISTED_SESSIONS: u32 = 1_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateArg {
    session_token: Key,
    #[serde(default)]
    #[schema(schema_with = rotated_max_age)]
    max_age: Option<MaxAge>,
    /// The device using the session now: replaces the stored address and user agent it gives.
    #[serde(default)]
    context: Option<SessionContext>,
    #[serde(default)]
    #[schema(schema_with = rotate_after)]
    rotate_after: Option<MaxAge>,
}

fn rotate_after() -> utoipa::openapi::schema::Object {
    optional_seconds(
        "Rotate only if the token is at least this many seconds old (since the last rotation, else since \
         creation); otherwise answer the session unchanged, with the token sent. Needs the rotation columns \
         (422 without them).",
    )
}

fn rotated_max_age() -> utoipa::openapi::schema::Object {
    optional_seconds("Seconds the rotated session lives (default: --session-max-age); at most 100 years.")
}

/// `POST /v1/sessions/rotate`: a new token and a fresh expiry for the same session id; with
/// `rotateAfter`, only once the token is that old. Rotated ⇔ the answer's token differs from the
/// one sent: a caller sets the cookie only then (re-setting an old token would, after the grace
/// window, look like theft).
#[utoipa::path(post, path = "/v1/sessions/rotate", operation_id = "rotateSession", tag = SESSIONS, security(("bearerAuth" = ["sessions:manage"])),
    summary = "Rotate a session token",
    description = "A new token (32 random bytes, hex) for the same session id, expiring at now + maxAge. Where \
                   the schema keeps previous tokens (previousSessionToken, rotatedAt) the old token still reads \
                   the session for --rotation-grace; presented later it revokes the session \
                   (--rotation-reuse); without them it stops working at once. With rotateAfter, a token younger \
                   than that, or a previous token inside its grace window, is answered unchanged (the token \
                   sent, never the new one). null when the session is missing or expired, when a previous token \
                   is sent without rotateAfter, and after a reuse.",
    request_body = RotateArg, responses((status = 200, body = Option<Session>), (status = 422)))]
pub async fn rotate(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(arg): ApiJson<RotateArg>,
) -> Result<Json<Option<Session>>, ApiError> {
    let max_age = arg.max_age.map_or_else(|| MaxAge::new(state.settings.session_max_age), Ok)?;
    let db = &state.db;
    let now = db.now();
    let expires = now
        .checked_add(TimeDelta::seconds(max_age.seconds() as i64))
        .ok_or_else(|| ApiError::invalid("maxAge", "invalid `maxAge`: too large"))?;
    let device = arg.context.unwrap_or_default().device(db)?;
    let token = &arg.session_token.0;
    if let Some(rotate_after) = arg.rotate_after {
        if !sessions::keeps_previous_tokens(db) {
            return Err(ApiError::FailedPrecondition(
                "`rotateAfter` needs the optional Session columns previousSessionToken and rotatedAt (see \
                 docs/session-management.md): without them the requests a browser has in flight would be \
                 signed out by the rotation"
                    .to_owned(),
            ));
        }
        let due_before = now.checked_add(TimeDelta::seconds(-(rotate_after.seconds() as i64)));
        match sessions::find_with_last_rotation(db, token, now).await? {
            Some((session, Some(last))) if due_before.is_none_or(|due| last > due) => return Ok(Json(Some(session))),
            Some(_) => {}
            None => return Ok(Json(previous_in_grace(&state, &actor, token, now).await?)),
        }
    }
    let rotated = sessions::rotate(db, token, &new_session_token(), now, expires, &device).await?;
    let subject =
        rotated.as_ref().map_or_else(Subject::none, |session| Subject::session(&session.user_id, &session.id));
    actor.record(Action::RotateSession, subject, u64::from(rotated.is_some()));
    state.written(&token_changes(token.clone(), rotated.as_ref()));
    if rotated.is_some() {
        return Ok(Json(rotated));
    }
    // The loser of two rotations at once, or an old token: reuse detection applies; inside the
    // window only a conditional rotation (a browser's) is answered, and unchanged.
    let kept = previous_in_grace(&state, &actor, token, now).await?;
    Ok(Json(kept.filter(|_| arg.rotate_after.is_some())))
}

/// `token` as a previous token: the session unchanged inside the grace window, else `None` (after
/// the policy has dealt with a late use).
async fn previous_in_grace(
    state: &AppState,
    actor: &Actor,
    token: &str,
    now: crate::db::DbTime,
) -> Result<Option<Session>, ApiError> {
    Ok(rotation::previous_token(state, actor, token, now).await?.map(|(session, _)| session))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true` (the default): live sessions only; `false`: expired ones too.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    active: Option<QueryFlag>,
    /// Answer at most this many sessions (default and largest: 1000).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<QueryNumber>,
}

/// The `{userId}` of a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// A user's id; an unknown one gives empty answers, not 404.
    #[param(rename = "userId")]
    pub user_id: Key,
}

/// `GET /v1/users/{userId}/sessions[?active=false][&limit=N]`: live sessions (all with
/// `active=false`), newest expiry first.
#[utoipa::path(get, path = "/v1/users/{userId}/sessions", operation_id = "listUserSessions", tag = SESSIONS, security(("bearerAuth" = ["sessions:manage"])),
    summary = "A user's sessions", description = "The user's sessions (never their tokens), newest expiry first.",
    params(UserPath, ListQuery), responses((status = 200, body = Vec<SessionInfo>)))]
pub async fn list_for_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    let user_id = path_key("userId", user_id)?;
    let query: ListQuery = parse_query(query.as_deref())?;
    let limit = match query.limit {
        None => MAX_LISTED_SESSIONS,
        Some(QueryNumber(n)) if (1..=MAX_LISTED_SESSIONS).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid(
                "limit",
                format!("invalid `limit`: must be between 1 and {MAX_LISTED_SESSIONS}"),
            ));
        }
    };
    let active_only = query.active.is_none_or(|QueryFlag(active)| active);
    let db = &state.db;
    let alive_at = active_only.then(|| db.now());
    Ok(Json(sessions::list_for_user(db, &user_id, alive_at, i64::from(limit)).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignOutQuery {
    /// The id of a session to keep (the caller's own): "sign out everywhere else".
    #[serde(default)]
    except: Option<Key>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// Sessions deleted.
    deleted: usize,
}

/// `DELETE /v1/users/{userId}/sessions[?except={sessionId}]`: sign out everywhere (but here).
#[utoipa::path(delete, path = "/v1/users/{userId}/sessions", operation_id = "deleteUserSessions", tag = SESSIONS, security(("bearerAuth" = ["sessions:manage"])),
    summary = "Sign out everywhere",
    description = "Deletes every session of the user, except the one named by `except`; counts every row removed.",
    params(UserPath, SignOutQuery), responses((status = 200, body = Deleted)))]
pub async fn delete_for_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Deleted>, ApiError> {
    let user_id = path_key("userId", user_id)?;
    let query: SignOutQuery = parse_query(query.as_deref())?;
    let except = query.except.map(|Key(id)| id);
    let deleted = sessions::delete_for_user(&state.db, &user_id, except.as_deref()).await?;
    // Only a deletion proves that the id is a user's, not text sent in the wrong place.
    let subject = Subject::user((deleted > 0).then_some(user_id.as_str()));
    actor.record(Action::DeleteUserSessions, subject, deleted as u64);
    state.written(&[Change::User(user_id)]);
    Ok(Json(Deleted { deleted }))
}

/// `DELETE /v1/sessions/{sessionId}`: sign out one device; `null` when there is no such session.
#[utoipa::path(delete, path = "/v1/sessions/{sessionId}", operation_id = "deleteSessionById", tag = SESSIONS, security(("bearerAuth" = ["sessions:manage"])),
    summary = "Sign out one device",
    description = "Deletes the session with this id; answers it, or null when there is none.",
    params(("sessionId" = Key, Path, description = "The session's id (not its token).")),
    responses((status = 200, body = Option<SessionInfo>)))]
pub async fn delete_one(
    State(state): State<AppState>,
    actor: Actor,
    Path(session_id): Path<String>,
) -> Result<Json<Option<SessionInfo>>, ApiError> {
    let session_id = path_key("sessionId", session_id)?;
    let deleted = sessions::delete_by_id(&state.db, &session_id).await?;
    let subject =
        deleted.as_ref().map_or_else(Subject::none, |session| Subject::session(&session.user_id, &session.id));
    actor.record(Action::DeleteSessionById, subject, u64::from(deleted.is_some()));
    state.written(&[Change::Session(session_id)]);
    Ok(Json(deleted))
}

/// `GET /v1/users/{userId}/session-stats`.
#[utoipa::path(get, path = "/v1/users/{userId}/session-stats", operation_id = "userSessionStats", tag = SESSIONS, security(("bearerAuth" = ["sessions:manage"])),
    summary = "A user's session counts",
    description = "Total, active and expired sessions of the user, and the latest expiry (expired ones included).",
    params(UserPath), responses((status = 200, body = UserSessionStats)))]
pub async fn user_stats(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<UserSessionStats>, ApiError> {
    let user_id = path_key("userId", user_id)?;
    let db = &state.db;
    Ok(Json(sessions::user_stats(db, &user_id, db.now()).await?))
}

/// `GET /v1/stats/sessions`.
#[utoipa::path(get, path = "/v1/stats/sessions", operation_id = "sessionStats", tag = SESSIONS, security(("bearerAuth" = ["sessions:manage"])),
    summary = "Service-wide session counts",
    description = "Active and expired sessions, users with an active session, sessions expiring within 24 hours.",
    responses((status = 200, body = SessionStats)))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<SessionStats>, ApiError> {
    let db = &state.db;
    let now = db.now();
    let day_later = now.checked_add(TimeDelta::days(1)).ok_or(ApiError::Internal)?;
    Ok(Json(sessions::stats(db, now, day_later).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PurgeArg {
    /// Rows deleted per statement (default: --purge-batch-size).
    #[serde(default, deserialize_with = "whole_opt")]
    #[schema(minimum = 1, maximum = 100_000)]
    batch_size: Option<u32>,
}

/// `POST /v1/maintenance/purge-expired`: batches until nothing expired is left.
#[utoipa::path(post, path = "/v1/maintenance/purge-expired", operation_id = "purgeExpired", tag = SESSIONS, security(("bearerAuth" = ["maintenance"])),
    summary = "Purge expired rows",
    description = "Deletes expired sessions and verification tokens in batches until none is left; answers the \
                   totals.",
    request_body = PurgeArg, responses((status = 200, body = Purged)))]
pub async fn purge_expired(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(arg): ApiJson<PurgeArg>,
) -> Result<Json<Purged>, ApiError> {
    let batch_size = match arg.batch_size {
        None => state.settings.purge_batch_size,
        Some(n) => NonZeroU32::new(n).filter(|n| n.get() <= MAX_PURGE_BATCH_SIZE).ok_or_else(|| {
            ApiError::invalid("batchSize", format!("invalid `batchSize`: must be between 1 and {MAX_PURGE_BATCH_SIZE}"))
        })?,
    };
    let purged = purge::run(&state.db, batch_size, &actor, true).await?;
    // The cache never serves an expired session, so this is belt and braces: what the purge
    // deleted had expired before it started.
    if purged.sessions_deleted > 0 {
        state.written(&[Change::All]);
    }
    Ok(Json(purged))
}

use std::num::NonZeroU32;

use diesel::dsl::{case_when, count, count_star, max, sum};
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_async::RunQueryDsl;
use rand::RngExt as _;
use serde::Serialize;

use super::users::User;
use crate::db::exact::{Exactly, exact};
use crate::db::notify::{self, Announced, NotifyConnection as _, returning_announced};
use crate::db::relations::{LockingConnection, locking_transaction, write_for_user};
use crate::db::schema::{sessions, users};
use crate::db::tables::SESSIONS;
use crate::db::{Db, DbResult, DbTime, first_optional, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = sessions)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub session_token: String,
    pub user_id: String,
    pub expires: DbTime,
}

impl Announced for Session {
    fn payload(&self) -> String {
        notify::session(&self.id)
    }
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = sessions)]
pub struct SessionChanges {
    pub expires: Option<DbTime>,
    pub user_id: Option<String>,
    /// Set by [`update`] when the column exists.
    pub updated_at: Option<DbTime>,
}

/// Where a session is used from, as the caller's request `context` says (either may be unknown).
/// Written to the optional `ipAddress` / `userAgent` columns where they exist; never logged.
#[derive(Default, Clone)]
pub struct Device {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// `SET "previousSessionToken" = …, "rotatedAt" = …` (see [`Metadata::rotated`]).
type Rotated = (
    diesel::dsl::Eq<sessions::previous_session_token, Option<String>>,
    diesel::dsl::Eq<sessions::rotated_at, Option<DbTime>>,
);

/// `SET column = value` of a nullable text column, or nothing (`None` is left out of a changeset).
type SetText<C> = Option<diesel::dsl::Eq<C, Option<String>>>;

/// The optional columns of `sessions` this database has (found by the schema check).
#[derive(Debug, Clone, Copy)]
struct Metadata {
    created_at: bool,
    ip_address: bool,
    updated_at: bool,
    user_agent: bool,
    /// `previousSessionToken` and `rotatedAt` both (one without the other is not used).
    rotation: bool,
}

impl Metadata {
    fn of(db: &Db) -> Self {
        let has = |column| db.has_column(&SESSIONS, column);
        Self {
            created_at: has(sessions::created_at::NAME),
            ip_address: has(sessions::ip_address::NAME),
            updated_at: has(sessions::updated_at::NAME),
            user_agent: has(sessions::user_agent::NAME),
            rotation: has(sessions::previous_session_token::NAME) && has(sessions::rotated_at::NAME),
        }
    }

    /// `SET "previousSessionToken" = <the stored old token>, "rotatedAt" = now` where the columns
    /// exist. The old token is bound, not read from the column: MySQL evaluates assignments left
    /// to right, so `= "sessionToken"` could see the new one.
    fn rotated(self, old_stored: &str, now: DbTime) -> Option<Rotated> {
        self.rotation.then(|| {
            (sessions::previous_session_token.eq(Some(old_stored.to_owned())), sessions::rotated_at.eq(Some(now)))
        })
    }

    /// `SET "updatedAt" = now` where the column exists (`None` is left out of a changeset).
    fn touch(self, now: DbTime) -> Option<diesel::dsl::Eq<sessions::updated_at, Option<DbTime>>> {
        self.updated_at.then(|| sessions::updated_at.eq(Some(now)))
    }

    /// The device's columns that exist and that the context fills.
    fn device(self, device: &Device) -> (SetText<sessions::ip_address>, SetText<sessions::user_agent>) {
        let set = |present: bool, value: &Option<String>| present.then_some(value.clone()).flatten().map(Some);
        (
            set(self.ip_address, &device.ip_address).map(|v| sessions::ip_address.eq(v)),
            set(self.user_agent, &device.user_agent).map(|v| sessions::user_agent.eq(v)),
        )
    }
}

/// A new session token: 32 random bytes from the OS-seeded CSPRNG, lower-case hex (what Auth.js
/// core generates).
pub fn new_session_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// When and how far to slide a session's expiry on read.
#[derive(Debug, Clone, Copy)]
pub struct Slide {
    /// A session whose `expires <= due_before` is due (`expires - maxAge + updateAge <= now`).
    pub due_before: DbTime,
    /// `now + maxAge`.
    pub new_expires: DbTime,
}

/// A session as the management routes show it: never the token. The metadata is `null` when
/// unknown, or when the schema lacks its column.
#[derive(Debug, Clone, Queryable, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    pub user_id: String,
    pub expires: DbTime,
    /// When the session was created.
    pub created_at: Option<DbTime>,
    /// When authbridge last wrote the row: creation, a slide of the expiry, an update, a rotation.
    pub updated_at: Option<DbTime>,
    /// The client address the caller's `context` gave at sign-in or at the latest rotation.
    pub ip_address: Option<String>,
    /// The user agent the caller's `context` gave at sign-in or at the latest rotation.
    pub user_agent: Option<String>,
    /// When the session's token was last rotated (`null`: never, or the schema lacks the column).
    pub rotated_at: Option<DbTime>,
}

impl Announced for SessionInfo {
    fn payload(&self) -> String {
        notify::session(&self.id)
    }
}

type MaybeColumn<T> = diesel::expression::SqlLiteral<diesel::sql_types::Nullable<T>>;

/// What [`SessionInfo`] is read from: the optional columns that exist, `NULL` for the others.
/// One static type whatever the schema has, so every query below stays one statement.
type InfoColumns = (
    sessions::id,
    sessions::user_id,
    sessions::expires,
    MaybeColumn<diesel::sql_types::Timestamp>,
    MaybeColumn<diesel::sql_types::Timestamp>,
    MaybeColumn<diesel::sql_types::Text>,
    MaybeColumn<diesel::sql_types::Text>,
    MaybeColumn<diesel::sql_types::Timestamp>,
);

/// The optional `column`, or `NULL` where the schema lacks it.
fn maybe<T: diesel::sql_types::SingleValue>(db: &Db, present: bool, column: &str) -> MaybeColumn<T> {
    diesel::dsl::sql(&if present { db.quote_identifier(column) } else { "NULL".to_owned() })
}

fn info_columns(db: &Db) -> InfoColumns {
    let metadata = Metadata::of(db);
    (
        sessions::id,
        sessions::user_id,
        sessions::expires,
        maybe(db, metadata.created_at, sessions::created_at::NAME),
        maybe(db, metadata.updated_at, sessions::updated_at::NAME),
        maybe(db, metadata.ip_address, sessions::ip_address::NAME),
        maybe(db, metadata.user_agent, sessions::user_agent::NAME),
        maybe(db, db.has_column(&SESSIONS, sessions::rotated_at::NAME), sessions::rotated_at::NAME),
    )
}

/// Evaluates `$find` (a query's result, `DbResult<Option<_>>`) with `$stored` bound to the stored
/// form of `$token`. With `sha256-migrating`, a token that matches no hash may be stored plain:
/// [`upgrade_plain_row`] rewrites that row to the hash and `$find` runs once more. A hit costs
/// what it costs with `sha256`; only a miss costs more. (A macro, not a function taking an async
/// closure: the futures of such closures are not known to be `Send`, which axum needs.)
macro_rules! by_stored_token {
    ($db:expr, $token:expr, |$stored:ident| $find:expr) => {{
        let storage = $db.at_rest().session_tokens;
        let stored = storage.stored($token);
        let $stored: &str = &stored;
        match $find {
            Ok(None) if storage.upgrades_plain_rows() => {
                upgrade_plain_row($db, $token, $stored).await?;
                $find
            }
            found => found,
        }
    }};
}

/// Rewrites the row that holds `token` plain to hold `hash`: one atomic statement, so of two first
/// uses at once one rewrites the row and the other matches nothing, and each then finds the hash.
async fn upgrade_plain_row(db: &Db, token: &str, hash: &str) -> DbResult<()> {
    let upgraded = with_conn!(db, conn => diesel::update(by_token(token))
        .set(sessions::session_token.eq(hash))
        .execute(conn)
        .await);
    match upgraded {
        Ok(_) => Ok(()),
        // The hash is there already (a plain and a hashed row of one token, only possible when
        // another program wrote the plain one): the retry finds the hashed row.
        Err(crate::db::Error::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Inserts the session. With `keep_at_most`, the user's other sessions beyond that number go in
/// the same transaction, those that expire first (reads slide the expiry, so these are the least
/// recently used), and never the new one. An unknown user is [`crate::db::Error::MissingUser`] or
/// a foreign key violation (see [`crate::db::relations`]).
/// No column authbridge writes is left to a database default, so the stored row is what was
/// inserted (no `RETURNING`). The optional columns that exist are filled in the same statement.
/// Answers the session and how many of the user's other sessions the limit deleted.
pub async fn create(
    db: &Db,
    session: Session,
    device: &Device,
    keep_at_most: Option<NonZeroU32>,
) -> DbResult<(Session, usize)> {
    let raw_token = session.session_token.clone();
    let session = Session { session_token: stored(db, &raw_token).into_owned(), ..session };
    // The token as sent is checked too: what a request may send does not depend on the storage.
    db.check_lengths(
        &SESSIONS,
        &[
            (sessions::id::NAME, Some(&session.id)),
            (sessions::session_token::NAME, Some(&raw_token)),
            (sessions::session_token::NAME, Some(&session.session_token)),
            (sessions::user_id::NAME, Some(&session.user_id)),
        ],
    )?;
    let insert = insert::InsertSession { session: &session, now: db.now(), device, metadata: Metadata::of(db) };
    let Some(keep_at_most) = keep_at_most else {
        write_for_user!(db, &session.user_id, conn => insert.execute(conn).await)?;
        return Ok((Session { session_token: raw_token, ..session }, 0));
    };
    let others_kept = i64::from(keep_at_most.get() - 1);
    // A locking transaction (see `relations`): the trimming SELECT must see the sessions that
    // sign-ins committed while this one waited for the user's lock.
    let evicted = with_conn!(db, conn => locking_transaction!(conn => {
        // Row-locks the user first (a no-op write; InnoDB locks the rows an UPDATE matches
        // even when nothing changes), so that concurrent sign-ins of one user take turns and
        // cannot each keep N sessions, and a user delete waits (or has happened: no row). SQLite
        // serializes writers anyway.
        let locked = diesel::update(users::table.find(&session.user_id))
            .set(users::name.eq(users::name))
            .execute(conn)
            .await?;
        if locked == 0 {
            return Ok(None);
        }
        insert.execute(conn).await?;
        // Ids first, then the delete: MySQL allows no LIMIT/OFFSET in an `IN` subquery, and
        // needs a LIMIT for an OFFSET.
        let beyond_limit: Vec<String> = sessions::table
            .filter(sessions::user_id.eq(&session.user_id))
            .filter(sessions::id.ne(&session.id))
            .order((sessions::expires.desc(), sessions::id.desc()))
            .select(sessions::id)
            .limit(i64::MAX)
            .offset(others_kept)
            .load(conn)
            .await?;
        let evicted = if beyond_limit.is_empty() {
            0
        } else {
            diesel::delete(sessions::table.filter(sessions::id.eq_any(&beyond_limit))).execute(conn).await?
        };
        if evicted > 0 && db.notifies() {
            conn.notify(&notify::user(&session.user_id)).await?;
        }
        Ok(Some(evicted))
    }))?;
    match evicted {
        Some(evicted) => Ok((Session { session_token: raw_token, ..session }, evicted)),
        None => Err(crate::db::Error::MissingUser),
    }
}

/// Gives the live session behind `token` a new token and expiry; where the schema keeps previous
/// tokens (see [`crate::rotation`]), the old one moves to `previousSessionToken` and `rotatedAt`
/// is set in one statement (on MySQL: that
/// update, then a read of the new row, in one transaction); the old token stops matching the
/// moment it commits. `None` when no live session has that token (which is also what the loser of
/// two concurrent rotations gets: its update waits for the winner's row lock, then re-checks the
/// token and matches nothing).
/// The device's columns are written where they exist and the `device` fills them.
pub async fn rotate(
    db: &Db,
    token: &str,
    new_token: &str,
    now: DbTime,
    new_expires: DbTime,
    device: &Device,
) -> DbResult<Option<Session>> {
    let new_stored = stored(db, new_token);
    let live = |stored| by_token(stored).filter(sessions::expires.gt(now));
    let metadata = Metadata::of(db);
    // Built per attempt: MySQL runs a statement again after a deadlock.
    let changes = |old_stored: &str| {
        (
            sessions::session_token.eq(&*new_stored),
            sessions::expires.eq(new_expires),
            metadata.touch(now),
            metadata.device(device),
            metadata.rotated(old_stored, now),
        )
    };
    let rotated = by_stored_token!(db, token, |stored| crate::db::update_returning!(
        db,
        live(stored),
        changes(stored),
        Session,
        read_back: by_token(&new_stored),
        announced
    ))?;
    Ok(rotated.map(|session| with_raw_token(session, new_token)))
}

/// Whether this schema keeps rotated-out tokens (both optional rotation columns exist).
pub fn keeps_previous_tokens(db: &Db) -> bool {
    Metadata::of(db).rotation
}

/// The live session behind `token` and when its token last changed: `rotatedAt`, else its
/// `createdAt` (`None` when neither is known). For a rotation that is due only after a while.
pub async fn find_with_last_rotation(db: &Db, token: &str, now: DbTime) -> DbResult<Option<(Session, Option<DbTime>)>> {
    let metadata = Metadata::of(db);
    let found: Option<(Session, Option<DbTime>, Option<DbTime>)> = by_stored_token!(db, token, |stored| with_conn!(
        db,
        conn => by_token(stored)
            .filter(sessions::expires.gt(now))
            .select((
                Session::as_select(),
                maybe::<diesel::sql_types::Timestamp>(db, metadata.rotation, sessions::rotated_at::NAME),
                maybe::<diesel::sql_types::Timestamp>(db, metadata.created_at, sessions::created_at::NAME),
            ))
            .first(conn)
            .await
            .optional()
    ))?;
    Ok(found.map(|(session, rotated_at, created_at)| (with_raw_token(session, token), rotated_at.or(created_at))))
}

/// A live session found by its previous token.
pub struct PreviousToken {
    /// With the token as sent, never the current one.
    pub session: Session,
    pub user: User,
    /// `None` when another program set `previousSessionToken` without it.
    pub rotated_at: Option<DbTime>,
}

/// The live session whose previous token is `token`; only where [`keeps_previous_tokens`].
pub async fn find_by_previous_token(db: &Db, token: &str, now: DbTime) -> DbResult<Option<PreviousToken>> {
    let stored = stored(db, token);
    let found: Option<(Session, User, Option<DbTime>)> = with_conn!(db, conn => sessions::table
        .inner_join(users::table)
        .filter(exact(sessions::previous_session_token, &stored))
        .filter(sessions::expires.gt(now))
        .select((Session::as_select(), User::as_select(), sessions::rotated_at))
        .first(conn)
        .await
        .optional())?;
    Ok(found.map(|(session, user, rotated_at)| PreviousToken {
        session: with_raw_token(session, token),
        user,
        rotated_at,
    }))
}

/// Deletes session `id` if `token` is still its previous token (of two detections at once one
/// deletes); whether it did. Other instances' caches are told in the same transaction.
pub async fn revoke_reused(db: &Db, id: &str, token: &str) -> DbResult<bool> {
    let stored = stored(db, token);
    let query = || sessions::table.filter(sessions::id.eq(id)).filter(exact(sessions::previous_session_token, &stored));
    let deleted = crate::db::delete_returning!(db, query(), Session, announced)?;
    Ok(deleted.is_some())
}

/// The value the `sessionToken` column holds for `token` (see [`crate::at_rest`]).
fn stored<'a>(db: &Db, token: &'a str) -> std::borrow::Cow<'a, str> {
    db.at_rest().session_tokens.stored(token)
}

/// The session with the caller's token in place of the stored one.
fn with_raw_token(session: Session, token: &str) -> Session {
    Session { session_token: token.to_owned(), ..session }
}

fn by_token(token: &str) -> diesel::dsl::Filter<sessions::table, Exactly<'_, sessions::session_token>> {
    sessions::table.filter(exact(sessions::session_token, token))
}

/// A user's sessions, newest expiry first; only those alive at `alive_at` when it is given.
pub async fn list_for_user(db: &Db, user_id: &str, alive_at: Option<DbTime>, limit: i64) -> DbResult<Vec<SessionInfo>> {
    with_conn!(db, conn => {
        let mut query = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .order((sessions::expires.desc(), sessions::id.desc()))
            .select(info_columns(db))
            .limit(limit)
            .into_boxed();
        if let Some(now) = alive_at {
            query = query.filter(sessions::expires.gt(now));
        }
        query.load(conn).await
    })
}

/// Signs a user out everywhere (but in session `except`); expired rows go too. Returns the count.
/// With the cache's notifications on, the delete and the user's notification are one
/// transaction; otherwise the delete is one statement.
pub async fn delete_for_user(db: &Db, user_id: &str, except: Option<&str>) -> DbResult<usize> {
    with_conn!(db, conn => {
        // Boxed per backend, hence built in here.
        let query = || {
            let mut query = diesel::delete(sessions::table).filter(sessions::user_id.eq(user_id)).into_boxed();
            if let Some(except) = except {
                query = query.filter(sessions::id.ne(except));
            }
            query
        };
        if db.notifies() {
            diesel_async::AsyncConnection::transaction(conn, async |conn| {
                let deleted = query().execute(conn).await?;
                if deleted > 0 {
                    conn.notify(&notify::user(user_id)).await?;
                }
                Ok::<_, diesel::result::Error>(deleted)
            })
            .await
        } else {
            query().execute(conn).await
        }
    })
}

pub async fn delete_by_id(db: &Db, id: &str) -> DbResult<Option<SessionInfo>> {
    let query = || sessions::table.find(id);
    with_conn!(db, conn => returning_announced!(db, conn, diesel::delete(query()).returning(info_columns(db)), announced),
    mysql: conn => diesel_async::AsyncConnection::transaction(conn, async |conn| {
        let row = query().select(info_columns(db)).for_update().first(conn).await.optional()?;
        if row.is_some() {
            diesel::delete(query()).execute(conn).await?;
        }
        Ok::<_, diesel::result::Error>(row)
    })
    .await)
}

/// The CASE arms of the counting sums.
fn one() -> diesel::expression::SqlLiteral<Integer> {
    diesel::dsl::sql("1")
}

fn zero() -> diesel::expression::SqlLiteral<Integer> {
    diesel::dsl::sql("0")
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSessionStats {
    pub total_sessions: i64,
    pub active_sessions: i64,
    pub expired_sessions: i64,
    pub latest_expires: Option<DbTime>,
}

/// One statement, so the counts add up even while sessions come and go.
pub async fn user_stats(db: &Db, user_id: &str, now: DbTime) -> DbResult<UserSessionStats> {
    // Built per attempt: MySQL runs a statement again after a deadlock.
    let query = || {
        sessions::table.filter(sessions::user_id.eq(user_id)).select((
            count_star(),
            sum(case_when(sessions::expires.gt(now), one()).otherwise(zero())),
            max(sessions::expires),
        ))
    };
    let (total, active, latest): (i64, Option<i64>, Option<DbTime>) =
        with_conn!(db, conn => query().get_result(conn).await)?;
    let active = active.unwrap_or(0);
    Ok(UserSessionStats {
        total_sessions: total,
        active_sessions: active,
        expired_sessions: total - active,
        latest_expires: latest,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStats {
    pub active_sessions: i64,
    pub expired_sessions: i64,
    pub users_with_active_sessions: i64,
    pub expiring_within24h: i64,
}

/// Service-wide counts in one statement (a scan of `sessions`; meant for dashboards, not for
/// every request).
pub async fn stats(db: &Db, now: DbTime, day_later: DbTime) -> DbResult<SessionStats> {
    // Built per attempt: MySQL runs a statement again after a deadlock.
    let query = || {
        let alive = sessions::expires.gt(now);
        sessions::table.select((
            count_star(),
            sum(case_when(alive, one()).otherwise(zero())),
            count(case_when(alive, sessions::user_id)).aggregate_distinct(),
            sum(case_when(alive.and(sessions::expires.le(day_later)), one()).otherwise(zero())),
        ))
    };
    let (total, active, users, expiring): (i64, Option<i64>, i64, Option<i64>) =
        with_conn!(db, conn => query().get_result(conn).await)?;
    let active = active.unwrap_or(0);
    Ok(SessionStats {
        active_sessions: active,
        expired_sessions: total - active,
        users_with_active_sessions: users,
        expiring_within24h: expiring.unwrap_or(0),
    })
}

/// The hot path behind `getSessionAndUser`: never returns a session with `expires <= now`, and
/// slides the expiry only when it is due. A conditional `UPDATE` re-checks `expires` under the
/// row lock, so concurrent readers write at most once per `updateAge`.
pub async fn find_with_user(
    db: &Db,
    token: &str,
    now: DbTime,
    slide: Option<Slide>,
) -> DbResult<Option<(Session, User)>> {
    let found = by_stored_token!(db, token, |stored| find_stored_with_user(db, stored, now, slide).await)?;
    Ok(found.map(|(session, user)| (with_raw_token(session, token), user)))
}

/// [`find_with_user`] by the stored form of the token.
///
/// The same statements on every backend (DESIGN.md, "The hot path"): a page view is one plain
/// `SELECT` joining the user, which PostgreSQL runs cheaper than the data-modifying CTE that used
/// to read and slide at once (bench/TUNING.md). Only when the expiry is due does a conditional
/// `UPDATE` follow (and, for the loser of a race, a re-read); that is once per session per
/// `updateAge`, so it checks a connection out on its own and keeps the read as cheap as it gets.
async fn find_stored_with_user(
    db: &Db,
    token: &str,
    now: DbTime,
    slide: Option<Slide>,
) -> DbResult<Option<(Session, User)>> {
    let read = || async move {
        first_optional!(
            db,
            sessions::table
                .inner_join(users::table)
                .filter(exact(sessions::session_token, token))
                .filter(sessions::expires.gt(now))
                .select((Session::as_select(), User::as_select()))
        )
    };
    let Some((mut session, user)) = read().await? else { return Ok(None) };
    let Some(slide) = slide.filter(|s| session.expires <= s.due_before) else {
        return Ok(Some((session, user)));
    };
    // The expiry is re-checked under the row lock: of concurrent readers one slides it.
    let slid = with_conn!(db, conn => diesel::update(
        sessions::table.filter(sessions::id.eq(&session.id)).filter(sessions::expires.le(slide.due_before)),
    )
    .set((sessions::expires.eq(slide.new_expires), Metadata::of(db).touch(now)))
    .execute(conn)
    .await)?;
    if slid == 1 {
        session.expires = slide.new_expires;
    } else {
        // Another request slid it first (or it was deleted in between): report what is stored.
        match read().await? {
            Some((fresh, _)) => session.expires = fresh.expires,
            None => return Ok(None),
        }
    }
    Ok(Some((session, user)))
}

/// `None` when no session has this token. Moving it to an unknown user is
/// [`crate::db::Error::MissingUser`] or a foreign key violation (see [`crate::db::relations`]).
pub async fn update(db: &Db, token: &str, mut changes: SessionChanges) -> DbResult<Option<Session>> {
    if changes.expires.is_some() || changes.user_id.is_some() {
        changes.updated_at = Metadata::of(db).updated_at.then(|| db.now());
    }
    let updated = by_stored_token!(db, token, |stored| update_stored(db, stored, &changes).await)?;
    Ok(updated.map(|session| with_raw_token(session, token)))
}

/// [`update`] by the stored form of the token.
async fn update_stored(db: &Db, token: &str, changes: &SessionChanges) -> DbResult<Option<Session>> {
    if changes.expires.is_none() && changes.user_id.is_none() {
        return with_conn!(db, conn => by_token(token).select(Session::as_select()).first(conn).await.optional());
    }
    db.check_lengths(&SESSIONS, &[(sessions::user_id::NAME, changes.user_id.as_deref())])?;
    match changes.user_id.as_deref() {
        Some(user_id) if !db.foreign_keys_enforce_relations() => move_to_user(db, token, user_id, changes).await,
        _ => crate::db::update_returning!(db, by_token(token), changes, Session, read_back: by_token(token), announced),
    }
}

/// [`update`] where authbridge enforces the relations: the new user is share-locked first.
async fn move_to_user(db: &Db, token: &str, user_id: &str, changes: &SessionChanges) -> DbResult<Option<Session>> {
    // Evaluates to `None` when the user is missing and the session exists. As with a foreign key,
    // a missing session is `null` whoever the new user is (the UPDATE would match nothing to check).
    macro_rules! lock_user_or_return {
        ($conn:ident) => {
            if !LockingConnection::lock_user_shared(&mut *$conn, user_id).await? {
                let session: Option<String> = by_token(token).select(sessions::id).first($conn).await.optional()?;
                return Ok(if session.is_some() { None } else { Some(None) });
            }
        };
    }
    let moved = with_conn!(db, conn => locking_transaction!(conn => {
        lock_user_or_return!(conn);
        let moved = diesel::update(by_token(token)).set(changes).returning(Session::as_returning()).get_result(conn).await.optional()?;
        if let Some(moved) = moved.as_ref().filter(|_| db.notifies()) {
            conn.notify(&moved.payload()).await?;
        }
        Ok(Some(moved))
    }),
    mysql: conn => locking_transaction!(conn => {
        lock_user_or_return!(conn);
        if diesel::update(by_token(token)).set(changes).execute(conn).await? == 0 {
            return Ok(Some(None));
        }
        by_token(token).select(Session::as_select()).first(conn).await.optional().map(Some)
    }))?;
    moved.ok_or(crate::db::Error::MissingUser)
}

/// Idempotent: a second sign-out answers `None` instead of failing (Prisma's P2025).
pub async fn delete(db: &Db, token: &str) -> DbResult<Option<Session>> {
    let deleted =
        by_stored_token!(db, token, |stored| crate::db::delete_returning!(db, by_token(stored), Session, announced))?;
    Ok(deleted.map(|session| with_raw_token(session, token)))
}

/// What `authbridge migrate-tokens` did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenMigration {
    /// Rows whose plain token was replaced by its hash.
    pub hashed: u64,
    /// Live rows holding 64 lower-case hex characters: a hash, or one of authbridge's own tokens
    /// stored plain; left as they are.
    pub ambiguous: u64,
    /// The latest expiry among those: a plain one among them is hashed on first use under
    /// `sha256-migrating`, so after this time none is left to need it.
    pub ambiguous_until: Option<DbTime>,
}

/// Hashes every session token that is certainly plain (see [`crate::at_rest::may_be_hashed`]),
/// reading `batch` rows at a time in id order. Each row is rewritten by one statement that
/// re-checks the plain value, so a server's concurrent upgrade, rotation or sign-out wins.
pub async fn hash_plain_tokens(db: &Db, batch: NonZeroU32, now: DbTime) -> DbResult<TokenMigration> {
    let mut report = TokenMigration::default();
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String, DbTime)> = with_conn!(db, conn => sessions::table
            .filter(sessions::id.gt(&after))
            .order(sessions::id)
            .select((sessions::id, sessions::session_token, sessions::expires))
            .limit(i64::from(batch.get()))
            .load(conn)
            .await)?;
        let Some((last, _, _)) = rows.last() else { return Ok(report) };
        after = last.clone();
        for (id, token, expires) in rows {
            if crate::at_rest::may_be_hashed(&token) {
                if expires > now {
                    report.ambiguous += 1;
                    report.ambiguous_until = report.ambiguous_until.max(Some(expires));
                }
                continue;
            }
            let hash = crate::at_rest::sha256_hex(&token);
            let hashed = with_conn!(db, conn => diesel::update(sessions::table.find(&id))
                .filter(exact(sessions::session_token, &token))
                .set(sessions::session_token.eq(&hash))
                .execute(conn)
                .await)?;
            report.hashed += hashed as u64;
        }
    }
}

/// The `INSERT` of a new session, naming only the columns this schema has.
mod insert {
    use diesel::backend::Backend;
    use diesel::prelude::*;
    use diesel::query_builder::{AstPass, QueryFragment, QueryId};
    use diesel::serialize::ToSql;
    use diesel::sql_types::{HasSqlType, Nullable, Text, Timestamp};

    use super::{Device, Metadata, Session};
    use crate::db::DbTime;
    use crate::db::schema::sessions;
    use crate::db::tables::SESSIONS;

    /// Copied for each attempt: MySQL runs a statement again after a deadlock.
    #[derive(Clone, Copy)]
    pub(super) struct InsertSession<'a> {
        pub(super) session: &'a Session,
        /// `createdAt` and `updatedAt`.
        pub(super) now: DbTime,
        pub(super) device: &'a Device,
        pub(super) metadata: Metadata,
    }

    /// The text depends on the schema: diesel caches the prepared statement by its SQL.
    impl QueryId for InsertSession<'_> {
        type QueryId = ();
        const HAS_STATIC_QUERY_ID: bool = false;
    }

    impl<DB> QueryFragment<DB> for InsertSession<'_>
    where
        DB: Backend + HasSqlType<Text> + HasSqlType<Timestamp> + HasSqlType<Nullable<Text>>,
        String: ToSql<Text, DB>,
        DbTime: ToSql<Timestamp, DB>,
        Option<String>: ToSql<Nullable<Text>, DB>,
    {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
            let Metadata { created_at, ip_address, updated_at, user_agent, .. } = self.metadata;
            let columns = [
                (true, sessions::id::NAME),
                (true, sessions::session_token::NAME),
                (true, sessions::user_id::NAME),
                (true, sessions::expires::NAME),
                (created_at, sessions::created_at::NAME),
                (ip_address, sessions::ip_address::NAME),
                (updated_at, sessions::updated_at::NAME),
                (user_agent, sessions::user_agent::NAME),
            ];
            out.push_sql("INSERT INTO ");
            out.push_identifier(SESSIONS.name)?;
            out.push_sql(" (");
            for (i, (_, name)) in columns.iter().filter(|(present, _)| *present).enumerate() {
                if i > 0 {
                    out.push_sql(", ");
                }
                out.push_identifier(name)?;
            }
            out.push_sql(") VALUES (");
            out.push_bind_param::<Text, _>(&self.session.id)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&self.session.session_token)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&self.session.user_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(&self.session.expires)?;
            if created_at {
                out.push_sql(", ");
                out.push_bind_param::<Timestamp, _>(&self.now)?;
            }
            if ip_address {
                out.push_sql(", ");
                out.push_bind_param::<Nullable<Text>, _>(&self.device.ip_address)?;
            }
            if updated_at {
                out.push_sql(", ");
                out.push_bind_param::<Timestamp, _>(&self.now)?;
            }
            if user_agent {
                out.push_sql(", ");
                out.push_bind_param::<Nullable<Text>, _>(&self.device.user_agent)?;
            }
            out.push_sql(")");
            Ok(())
        }
    }
}

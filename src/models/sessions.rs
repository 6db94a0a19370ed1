use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Text, Timestamp};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::users::User;
use crate::db::schema::{sessions, users};
use crate::db::{Db, DbResult, DbTime, Pool, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = sessions, check_for_backend(Pg, diesel::sqlite::Sqlite))]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub session_token: String,
    pub user_id: String,
    pub expires: DbTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = sessions)]
pub struct SessionChanges {
    pub expires: Option<DbTime>,
    pub user_id: Option<String>,
}

/// When and how far to slide a session's expiry on read.
#[derive(Debug, Clone, Copy)]
pub struct Slide {
    /// A session whose `expires <= due_before` is due (`expires - maxAge + updateAge <= now`).
    pub due_before: DbTime,
    /// `now + maxAge`.
    pub new_expires: DbTime,
}

pub async fn create(db: &Db, session: Session) -> DbResult<Session> {
    with_conn!(db, conn => diesel::insert_into(sessions::table)
        .values(&session)
        .returning(Session::as_returning())
        .get_result(conn)
        .await)
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
    match (db.pool(), slide) {
        // PostgreSQL: one statement, one round trip.
        (Pool::Postgres(pool), Some(slide)) => {
            let mut conn = pool.get().await?;
            Ok(SlidingLookup { token, now, slide }.get_result(&mut *conn).await.optional()?)
        }
        (Pool::Postgres(_), None) => read_with_user(db, token, now).await,
        // SQLite runs in-process, so a read followed by a rare conditional write costs no round
        // trips; it has no data-modifying CTE.
        (Pool::Sqlite(_), slide) => {
            let Some((mut session, user)) = read_with_user(db, token, now).await? else { return Ok(None) };
            let Some(slide) = slide.filter(|s| session.expires <= s.due_before) else {
                return Ok(Some((session, user)));
            };
            let slid: Option<DbTime> = with_conn!(db, conn => diesel::update(
                sessions::table
                    .filter(sessions::id.eq(&session.id))
                    .filter(sessions::expires.le(slide.due_before)),
            )
            .set(sessions::expires.eq(slide.new_expires))
            .returning(sessions::expires)
            .get_result(conn)
            .await
            .optional())?;
            match slid {
                Some(expires) => session.expires = expires,
                // Another request slid it first (or it was deleted in between): report what is stored.
                None => match read_with_user(db, token, now).await? {
                    Some((fresh, _)) => session.expires = fresh.expires,
                    None => return Ok(None),
                },
            }
            Ok(Some((session, user)))
        }
    }
}

async fn read_with_user(db: &Db, token: &str, now: DbTime) -> DbResult<Option<(Session, User)>> {
    with_conn!(db, conn => sessions::table
        .inner_join(users::table)
        .filter(sessions::session_token.eq(token))
        .filter(sessions::expires.gt(now))
        .select((Session::as_select(), User::as_select()))
        .first(conn)
        .await
        .optional())
}

/// `None` when no session has this token.
pub async fn update(db: &Db, token: &str, changes: SessionChanges) -> DbResult<Option<Session>> {
    if changes.expires.is_none() && changes.user_id.is_none() {
        return with_conn!(db, conn => sessions::table
            .filter(sessions::session_token.eq(token))
            .select(Session::as_select())
            .first(conn)
            .await
            .optional());
    }
    with_conn!(db, conn => diesel::update(sessions::table.filter(sessions::session_token.eq(token)))
        .set(&changes)
        .returning(Session::as_returning())
        .get_result(conn)
        .await
        .optional())
}

/// Idempotent: a second sign-out answers `None` instead of failing (Prisma's P2025).
pub async fn delete(db: &Db, token: &str) -> DbResult<Option<Session>> {
    with_conn!(db, conn => diesel::delete(sessions::table.filter(sessions::session_token.eq(token)))
        .returning(Session::as_returning())
        .get_result(conn)
        .await
        .optional())
}

/// `getSessionAndUser` on PostgreSQL as one statement: the CTE slides the expiry when due and
/// the outer query joins the user. The outer `SELECT` sees the snapshot taken before the
/// update, hence the `COALESCE`.
struct SlidingLookup<'a> {
    token: &'a str,
    now: DbTime,
    slide: Slide,
}

/// A static query id lets diesel-async cache the prepared statement across requests.
struct SlidingLookupId;

impl QueryId for SlidingLookup<'_> {
    type QueryId = SlidingLookupId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for SlidingLookup<'_> {
    type SqlType = (sessions::SqlType, users::SqlType);
}

impl QueryFragment<Pg> for SlidingLookup<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(r#"WITH slid AS (UPDATE sessions SET expires = "#);
        out.push_bind_param::<Timestamp, _>(&self.slide.new_expires)?;
        out.push_sql(r#" WHERE "sessionToken" = "#);
        out.push_bind_param::<Text, _>(self.token)?;
        out.push_sql(" AND expires > ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" AND expires <= ");
        out.push_bind_param::<Timestamp, _>(&self.slide.due_before)?;
        out.push_sql(
            r#" RETURNING id, expires) SELECT s.id, s."sessionToken", s."userId", COALESCE(slid.expires, s.expires), u.id, u.name, u.email, u."emailVerified", u.image FROM sessions s JOIN users u ON u.id = s."userId" LEFT JOIN slid ON slid.id = s.id WHERE s."sessionToken" = "#,
        );
        out.push_bind_param::<Text, _>(self.token)?;
        out.push_sql(" AND s.expires > ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        Ok(())
    }
}

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::notify::{self, Announced, NotifyConnection as _};
use crate::db::relations::locking_transaction;
use crate::db::schema::{accounts, authenticators, sessions, users};
use crate::db::tables::USERS;
use crate::db::{Db, DbResult, DbTime, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = users)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<DbTime>,
    pub image: Option<String>,
}

impl Announced for User {
    fn payload(&self) -> String {
        notify::user(&self.id)
    }
}

/// PATCH semantics: `None` leaves a column alone, `Some(None)` sets it NULL.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub email_verified: Option<Option<DbTime>>,
    pub image: Option<Option<String>>,
}

impl UserChanges {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.email.is_none() && self.email_verified.is_none() && self.image.is_none()
    }
}

fn check_lengths(db: &Db, name: Option<&str>, email: Option<&str>, image: Option<&str>) -> DbResult<()> {
    Ok(db.check_lengths(
        &USERS,
        &[(users::name::NAME, name), (users::email::NAME, email), (users::image::NAME, image)],
    )?)
}

fn flat(value: &Option<Option<String>>) -> Option<&str> {
    value.as_ref().and_then(Option::as_deref)
}

/// The columns have no database defaults (Prisma fills them client-side), so the stored row is
/// exactly what was inserted: no `RETURNING` needed, on any backend.
pub async fn create(db: &Db, user: User) -> DbResult<User> {
    check_lengths(db, user.name.as_deref(), user.email.as_deref(), user.image.as_deref())?;
    with_conn!(db, conn => diesel::insert_into(users::table).values(&user).execute(conn).await)?;
    Ok(user)
}

pub async fn find(db: &Db, id: &str) -> DbResult<Option<User>> {
    with_conn!(db, conn => users::table.find(id).select(User::as_select()).first(conn).await.optional())
}

pub async fn find_by_email(db: &Db, email: &str) -> DbResult<Option<User>> {
    with_conn!(db, conn => users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .await
        .optional())
}

pub async fn find_by_account(db: &Db, provider: &str, provider_account_id: &str) -> DbResult<Option<User>> {
    with_conn!(db, conn => super::accounts::by_provider(provider, provider_account_id)
        .inner_join(users::table)
        .select(User::as_select())
        .first(conn)
        .await
        .optional())
}

/// `None` when no user has this id.
pub async fn update(db: &Db, id: &str, changes: UserChanges) -> DbResult<Option<User>> {
    if changes.is_empty() {
        return find(db, id).await;
    }
    check_lengths(db, flat(&changes.name), flat(&changes.email), flat(&changes.image))?;
    crate::db::update_returning!(db, users::table.find(id), &changes, User, read_back: users::table.find(id), announced)
}

/// Sessions, accounts and authenticators go with the user: by the foreign keys' ON DELETE CASCADE
/// in the same statement, or, where authbridge enforces the relations, in one transaction that
/// locks the user row first and deletes the user last (see [`crate::db::relations`]).
pub async fn delete(db: &Db, id: &str) -> DbResult<Option<User>> {
    if db.foreign_keys_enforce_relations() {
        return crate::db::delete_returning!(db, users::table.find(id), User, announced);
    }
    with_conn!(db, conn => locking_transaction!(conn => {
        let Some(user) = LockForDelete::lock_for_delete(&mut *conn, id).await? else { return Ok(None) };
        // The tables of `relations::RELATIONS`.
        diesel::delete(sessions::table.filter(sessions::user_id.eq(id))).execute(conn).await?;
        diesel::delete(accounts::table.filter(accounts::user_id.eq(id))).execute(conn).await?;
        diesel::delete(authenticators::table.filter(authenticators::user_id.eq(id))).execute(conn).await?;
        diesel::delete(users::table.find(id)).execute(conn).await?;
        if db.notifies() {
            conn.notify(&user.payload()).await?;
        }
        Ok(Some(user))
    }))
}

/// Locks user `id` for deletion and reads it, in a locking transaction (see
/// [`crate::db::relations`]); `None` when there is no such user. Here rather than in
/// [`crate::db::relations::LockingConnection`], which would then depend on this module.
trait LockForDelete {
    fn lock_for_delete(&mut self, id: &str) -> impl Future<Output = QueryResult<Option<User>>> + Send;
}

#[cfg(feature = "postgres")]
impl LockForDelete for diesel_async::AsyncPgConnection {
    async fn lock_for_delete(&mut self, id: &str) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).for_update().first(self).await.optional()
    }
}

#[cfg(feature = "mysql")]
impl LockForDelete for diesel_async::AsyncMysqlConnection {
    async fn lock_for_delete(&mut self, id: &str) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).for_update().first(self).await.optional()
    }
}

/// SQLite has no row locks: the transaction's `BEGIN IMMEDIATE` holds the one write lock.
#[cfg(feature = "sqlite")]
impl LockForDelete for crate::db::SqliteConn {
    async fn lock_for_delete(&mut self, id: &str) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).first(self).await.optional()
    }
}

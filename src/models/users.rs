use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::schema::{accounts, users};
use crate::db::{Db, DbResult, DbTime, GetCommitted, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<DbTime>,
    pub image: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<DbTime>,
    pub image: Option<String>,
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

pub async fn create(db: &Db, new: NewUser) -> DbResult<User> {
    with_conn!(db, conn => diesel::insert_into(users::table)
        .values(&new)
        .returning(User::as_returning())
        .get_committed(conn)
        .await)
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
    with_conn!(db, conn => accounts::table
        .inner_join(users::table)
        .filter(accounts::provider.eq(provider))
        .filter(accounts::provider_account_id.eq(provider_account_id))
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
    with_conn!(db, conn => diesel::update(users::table.find(id))
        .set(&changes)
        .returning(User::as_returning())
        .get_committed(conn)
        .await
        .optional())
}

/// Sessions, accounts and authenticators go with the user (ON DELETE CASCADE), in the same
/// statement.
pub async fn delete(db: &Db, id: &str) -> DbResult<Option<User>> {
    with_conn!(db, conn => diesel::delete(users::table.find(id))
        .returning(User::as_returning())
        .get_committed(conn)
        .await
        .optional())
}

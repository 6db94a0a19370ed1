use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::schema::authenticators;
use crate::db::{Db, DbResult, GetCommitted, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = authenticators, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[serde(rename_all = "camelCase")]
pub struct Authenticator {
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    pub user_id: String,
    pub provider_account_id: String,
    pub credential_public_key: String,
    pub counter: i32,
    pub credential_device_type: String,
    pub credential_backed_up: bool,
    pub transports: Option<String>,
}

pub async fn create(db: &Db, authenticator: Authenticator) -> DbResult<Authenticator> {
    with_conn!(db, conn => diesel::insert_into(authenticators::table)
        .values(&authenticator)
        .returning(Authenticator::as_returning())
        .get_committed(conn)
        .await)
}

pub async fn find(db: &Db, credential_id: &str) -> DbResult<Option<Authenticator>> {
    with_conn!(db, conn => authenticators::table
        .filter(authenticators::credential_id.eq(credential_id))
        .select(Authenticator::as_select())
        .first(conn)
        .await
        .optional())
}

pub async fn list_by_user(db: &Db, user_id: &str) -> DbResult<Vec<Authenticator>> {
    with_conn!(db, conn => authenticators::table
        .filter(authenticators::user_id.eq(user_id))
        .order(authenticators::credential_id)
        .select(Authenticator::as_select())
        .load(conn)
        .await)
}

/// `None` when no authenticator has this credential id.
pub async fn update_counter(db: &Db, credential_id: &str, counter: i32) -> DbResult<Option<Authenticator>> {
    with_conn!(db, conn => diesel::update(authenticators::table.filter(authenticators::credential_id.eq(credential_id)))
        .set(authenticators::counter.eq(counter))
        .returning(Authenticator::as_returning())
        .get_committed(conn)
        .await
        .optional())
}

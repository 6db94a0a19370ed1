use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::schema::accounts;
use crate::db::{Db, DbResult, GetCommitted, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Account {
    pub id: String,
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub provider: String,
    #[serde(rename = "providerAccountId")]
    pub provider_account_id: String,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub expires_at: Option<i32>,
    pub token_type: Option<String>,
    pub scope: Option<String>,
    pub id_token: Option<String>,
    pub session_state: Option<String>,
}

#[diesel::dsl::auto_type(no_type_alias)]
fn by_provider<'a>(provider: &'a str, provider_account_id: &'a str) -> _ {
    accounts::table
        .filter(accounts::provider.eq(provider))
        .filter(accounts::provider_account_id.eq(provider_account_id))
}

pub async fn link(db: &Db, account: Account) -> DbResult<Account> {
    with_conn!(db, conn => diesel::insert_into(accounts::table)
        .values(&account)
        .returning(Account::as_returning())
        .get_committed(conn)
        .await)
}

pub async fn unlink(db: &Db, provider: &str, provider_account_id: &str) -> DbResult<Option<Account>> {
    with_conn!(db, conn => diesel::delete(by_provider(provider, provider_account_id))
        .returning(Account::as_returning())
        .get_committed(conn)
        .await
        .optional())
}

pub async fn find(db: &Db, provider: &str, provider_account_id: &str) -> DbResult<Option<Account>> {
    with_conn!(db, conn => by_provider(provider, provider_account_id)
        .select(Account::as_select())
        .first(conn)
        .await
        .optional())
}

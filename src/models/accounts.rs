use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::exact::{Exactly, exact};
use crate::db::relations::write_for_user;
use crate::db::schema::accounts;
use crate::db::tables::ACCOUNTS;
use crate::db::{Db, DbResult, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = accounts)]
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

pub(crate) type ByProvider<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<accounts::table, Exactly<'a, accounts::provider>>,
    Exactly<'a, accounts::provider_account_id>,
>;

pub(crate) fn by_provider<'a>(provider: &'a str, provider_account_id: &'a str) -> ByProvider<'a> {
    accounts::table
        .filter(exact(accounts::provider, provider))
        .filter(exact(accounts::provider_account_id, provider_account_id))
}

/// No column has a database default: the stored row is what was inserted. An unknown user is
/// [`crate::db::Error::MissingUser`] or a foreign key violation (see [`crate::db::relations`]).
pub async fn link(db: &Db, account: Account) -> DbResult<Account> {
    let a = &account;
    db.check_lengths(
        &ACCOUNTS,
        &[
            (accounts::id::NAME, Some(&a.id)),
            (accounts::user_id::NAME, Some(&a.user_id)),
            (accounts::type_::NAME, Some(&a.type_)),
            (accounts::provider::NAME, Some(&a.provider)),
            (accounts::provider_account_id::NAME, Some(&a.provider_account_id)),
            (accounts::refresh_token::NAME, a.refresh_token.as_deref()),
            (accounts::access_token::NAME, a.access_token.as_deref()),
            (accounts::token_type::NAME, a.token_type.as_deref()),
            (accounts::scope::NAME, a.scope.as_deref()),
            (accounts::id_token::NAME, a.id_token.as_deref()),
            (accounts::session_state::NAME, a.session_state.as_deref()),
        ],
    )?;
    write_for_user!(db, &account.user_id, conn => diesel::insert_into(accounts::table).values(&account).execute(conn).await)?;
    Ok(account)
}

pub async fn unlink(db: &Db, provider: &str, provider_account_id: &str) -> DbResult<Option<Account>> {
    crate::db::delete_returning!(db, by_provider(provider, provider_account_id), Account)
}

pub async fn find(db: &Db, provider: &str, provider_account_id: &str) -> DbResult<Option<Account>> {
    with_conn!(db, conn => by_provider(provider, provider_account_id)
        .select(Account::as_select())
        .first(conn)
        .await
        .optional())
}

use std::num::NonZeroU32;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::at_rest::EncryptionKeys;
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
    let mut row = account.clone();
    if let Some(keys) = &db.at_rest().encryption_keys {
        for column in TokenColumn::ALL {
            let value = column.value_mut(&mut row);
            *value = value.as_deref().map(|plain| keys.seal(column.name(), &account.id, plain));
        }
    }
    // The lengths of what is stored: a sealed token is about 4/3 of the plain one plus 50 bytes.
    let a = &row;
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
    write_for_user!(db, &row.user_id, conn => diesel::insert_into(accounts::table).values(&row).execute(conn).await)?;
    Ok(account)
}

/// Deletes the account; answers the row as stored (tokens sealed): the caller opens it with
/// [`opened`] once it has recorded the deletion, which stands even when a token does not open.
pub async fn unlink(db: &Db, provider: &str, provider_account_id: &str) -> DbResult<Option<Account>> {
    crate::db::delete_returning!(db, by_provider(provider, provider_account_id), Account)
}

pub async fn find(db: &Db, provider: &str, provider_account_id: &str) -> DbResult<Option<Account>> {
    let found = with_conn!(db, conn => by_provider(provider, provider_account_id)
        .select(Account::as_select())
        .first(conn)
        .await
        .optional())?;
    found.map(|account| opened(db, account)).transpose()
}

/// The OAuth tokens that are sealed at rest when `--encryption-keys` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenColumn {
    AccessToken,
    RefreshToken,
    IdToken,
}

impl TokenColumn {
    pub const ALL: [Self; 3] = [Self::AccessToken, Self::RefreshToken, Self::IdToken];

    /// The column's name, which sealed values are bound to.
    pub fn name(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
            Self::IdToken => "id_token",
        }
    }

    pub fn value_mut(self, account: &mut Account) -> &mut Option<String> {
        match self {
            Self::AccessToken => &mut account.access_token,
            Self::RefreshToken => &mut account.refresh_token,
            Self::IdToken => &mut account.id_token,
        }
    }
}

/// The account with its tokens as they were sent. Without keys a sealed value stays as stored
/// (nothing can open it; the caller sees that it is sealed, never a plaintext).
pub fn opened(db: &Db, mut account: Account) -> DbResult<Account> {
    let Some(keys) = &db.at_rest().encryption_keys else { return Ok(account) };
    let id = account.id.clone();
    for column in TokenColumn::ALL {
        let value = column.value_mut(&mut account);
        if let Some(stored) = value.as_deref() {
            *value = Some(keys.open(column.name(), &id, stored)?.into_owned());
        }
    }
    Ok(account)
}

/// What `authbridge reencrypt` did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reencrypted {
    /// Tokens sealed anew under the current key (they were plain or under another key).
    pub rewritten: u64,
    /// Tokens that did not open; each is logged with its account and column.
    pub failed: u64,
}

/// Seals every OAuth token with the current key, reading `batch` accounts at a time in id order.
/// Each token is rewritten by one statement that re-checks the value read, so a concurrent
/// write by another program (a refreshed token) wins over the rewrite.
pub async fn reencrypt(db: &Db, keys: &EncryptionKeys, batch: NonZeroU32) -> DbResult<Reencrypted> {
    let mut report = Reencrypted::default();
    let mut after = String::new();
    loop {
        let rows: Vec<Account> = with_conn!(db, conn => accounts::table
            .filter(accounts::id.gt(&after))
            .order(accounts::id)
            .select(Account::as_select())
            .limit(i64::from(batch.get()))
            .load(conn)
            .await)?;
        let Some(last) = rows.last() else { return Ok(report) };
        after = last.id.clone();
        for mut account in rows {
            let id = account.id.clone();
            for column in TokenColumn::ALL {
                let Some(stored) = column.value_mut(&mut account).take().filter(|v| !keys.is_current(v)) else {
                    continue;
                };
                let resealed = match keys.open(column.name(), &id, &stored) {
                    Ok(plain) => keys.seal(column.name(), &id, &plain),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot re-encrypt");
                        report.failed += 1;
                        continue;
                    }
                };
                db.check_lengths(&ACCOUNTS, &[(column.name(), Some(&resealed))])?;
                report.rewritten += column.rewrite(db, &id, &stored, &resealed).await? as u64;
            }
        }
    }
}

impl TokenColumn {
    /// Sets the column of account `id` to `new` where it still holds `old`; the rows changed.
    async fn rewrite(self, db: &Db, id: &str, old: &str, new: &str) -> DbResult<usize> {
        macro_rules! rewrite {
            ($column:expr) => {
                with_conn!(db, conn => diesel::update(accounts::table.find(id))
                    .filter($column.eq(old))
                    .set($column.eq(new))
                    .execute(conn)
                    .await)
            };
        }
        match self {
            Self::AccessToken => rewrite!(accounts::access_token),
            Self::RefreshToken => rewrite!(accounts::refresh_token),
            Self::IdToken => rewrite!(accounts::id_token),
        }
    }
}

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::exact::exact;
use crate::db::relations::write_for_user;
use crate::db::schema::authenticators;
use crate::db::tables::AUTHENTICATORS;
use crate::db::{Db, DbResult, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = authenticators)]
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

/// No column has a database default: the stored row is what was inserted. An unknown user is
/// [`crate::db::Error::MissingUser`] or a foreign key violation (see [`crate::db::relations`]).
pub async fn create(db: &Db, authenticator: Authenticator) -> DbResult<Authenticator> {
    let a = &authenticator;
    db.check_lengths(
        &AUTHENTICATORS,
        &[
            (authenticators::credential_id::NAME, Some(&a.credential_id)),
            (authenticators::user_id::NAME, Some(&a.user_id)),
            (authenticators::provider_account_id::NAME, Some(&a.provider_account_id)),
            (authenticators::credential_public_key::NAME, Some(&a.credential_public_key)),
            (authenticators::credential_device_type::NAME, Some(&a.credential_device_type)),
            (authenticators::transports::NAME, a.transports.as_deref()),
        ],
    )?;
    write_for_user!(db, &authenticator.user_id, conn => diesel::insert_into(authenticators::table)
        .values(&authenticator)
        .execute(conn)
        .await)?;
    Ok(authenticator)
}

pub async fn find(db: &Db, credential_id: &str) -> DbResult<Option<Authenticator>> {
    with_conn!(db, conn => authenticators::table
        .filter(exact(authenticators::credential_id, credential_id))
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
    let by_id = || authenticators::table.filter(exact(authenticators::credential_id, credential_id));
    crate::db::update_returning!(db, by_id(), authenticators::counter.eq(counter), Authenticator, read_back: by_id())
}

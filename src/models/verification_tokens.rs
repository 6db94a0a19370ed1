use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::exact::{Exactly, exact};
use crate::db::schema::verification_tokens;
use crate::db::tables::VERIFICATION_TOKENS;
use crate::db::{Db, DbResult, DbTime, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = verification_tokens)]
pub struct VerificationToken {
    pub identifier: String,
    pub token: String,
    pub expires: DbTime,
}

/// No column has a database default: the stored row is what was inserted.
pub async fn create(db: &Db, token: VerificationToken) -> DbResult<VerificationToken> {
    db.check_lengths(
        &VERIFICATION_TOKENS,
        &[
            (verification_tokens::identifier::NAME, Some(&token.identifier)),
            (verification_tokens::token::NAME, Some(&token.token)),
        ],
    )?;
    with_conn!(db, conn => diesel::insert_into(verification_tokens::table).values(&token).execute(conn).await)?;
    Ok(token)
}

type ByKey<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<verification_tokens::table, Exactly<'a, verification_tokens::identifier>>,
    Exactly<'a, verification_tokens::token>,
>;

fn by_key<'a>(identifier: &'a str, token: &'a str) -> ByKey<'a> {
    verification_tokens::table
        .filter(exact(verification_tokens::identifier, identifier))
        .filter(exact(verification_tokens::token, token))
}

/// One `DELETE ... RETURNING` (on MySQL a locking read and the delete, in one transaction): of
/// any number of concurrent calls exactly one gets the row (no SELECT-then-DELETE window in
/// which a magic link could be used twice). The row is returned even when expired, so that
/// Auth.js core can say "expired".
pub async fn use_token(db: &Db, identifier: &str, token: &str) -> DbResult<Option<VerificationToken>> {
    crate::db::delete_returning!(db, by_key(identifier, token), VerificationToken)
}

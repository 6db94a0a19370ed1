use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::verification_tokens;
use crate::db::{Db, DbResult, DbTime, GetCommitted, with_conn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = verification_tokens, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct VerificationToken {
    pub identifier: String,
    pub token: String,
    pub expires: DbTime,
}

pub async fn create(db: &Db, token: VerificationToken) -> DbResult<VerificationToken> {
    with_conn!(db, conn => diesel::insert_into(verification_tokens::table)
        .values(&token)
        .returning(VerificationToken::as_returning())
        .get_committed(conn)
        .await)
}

/// One `DELETE ... RETURNING`: of any number of concurrent calls exactly one gets the row
/// (no SELECT-then-DELETE window in which a magic link could be used twice). The row is
/// returned even when expired, so that Auth.js core can say "expired".
pub async fn use_token(db: &Db, identifier: &str, token: &str) -> DbResult<Option<VerificationToken>> {
    with_conn!(db, conn => diesel::delete(
        verification_tokens::table
            .filter(verification_tokens::identifier.eq(identifier))
            .filter(verification_tokens::token.eq(token)),
    )
    .returning(VerificationToken::as_returning())
    .get_committed(conn)
    .await
    .optional())
}

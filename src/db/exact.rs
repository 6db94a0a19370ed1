//! Key comparisons that are exact on every backend.
//!
//! Prisma's MySQL tables use the collation `utf8mb4_unicode_ci`, which compares case-insensitively:
//! there `sessionToken = 'ABC'` would find the session `abc`. Tokens, provider account ids and
//! credential ids are secrets or opaque keys, so on MySQL they are compared as bytes:
//! `col = CAST(? AS BINARY)`. MySQL and MariaDB still look the value up through the column's
//! (case-insensitive) unique index and then re-check it, so the lookup stays an index lookup.
//! Emails are deliberately not compared this way: the unique index `users_email_key` is
//! case-insensitive on MySQL whatever we do, as it is for Prisma there (see API.md).

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Text};

/// `column = value`, byte for byte.
#[derive(Debug, Clone, Copy)]
pub struct Exactly<'a, C> {
    column: C,
    value: &'a str,
}

pub fn exact<C>(column: C, value: &str) -> Exactly<'_, C>
where
    C: Expression,
    C::SqlType: TextType,
{
    Exactly { column, value }
}

/// The column types [`exact`] compares: text, and nullable text (`previousSessionToken`), which
/// `= value` never matches when NULL.
pub trait TextType {}
impl TextType for Text {}
impl TextType for diesel::sql_types::Nullable<Text> {}

/// The statement shape depends only on the column, so prepared statements stay cached.
pub struct ExactlyId<C>(PhantomData<C>);

impl<C: QueryId> QueryId for Exactly<'_, C> {
    type QueryId = ExactlyId<C::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = C::HAS_STATIC_QUERY_ID;
}

impl<C> Expression for Exactly<'_, C> {
    type SqlType = Bool;
}

impl<C: ValidGrouping<GB>, GB> ValidGrouping<GB> for Exactly<'_, C> {
    type IsAggregate = C::IsAggregate;
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Exactly<'_, C> {}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for Exactly<'_, C> {}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
macro_rules! plain_equality {
    ($backend:ty) => {
        impl<C: QueryFragment<$backend>> QueryFragment<$backend> for Exactly<'_, C> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, $backend>) -> QueryResult<()> {
                self.column.walk_ast(out.reborrow())?;
                out.push_sql(" = ");
                out.push_bind_param::<Text, str>(self.value)
            }
        }
    };
}

// PostgreSQL and SQLite compare text byte for byte already (the Prisma schemas set no collation).
#[cfg(feature = "postgres")]
plain_equality!(diesel::pg::Pg);
#[cfg(feature = "sqlite")]
plain_equality!(diesel::sqlite::Sqlite);

#[cfg(feature = "mysql")]
impl<C: QueryFragment<diesel::mysql::Mysql>> QueryFragment<diesel::mysql::Mysql> for Exactly<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::mysql::Mysql>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = CAST(");
        out.push_bind_param::<Text, str>(self.value)?;
        out.push_sql(" AS BINARY)");
        Ok(())
    }
}

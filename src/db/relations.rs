//! The relations from sessions, accounts and authenticators to users, kept either by the
//! database's foreign keys or, on a database without them (Prisma's `relationMode = "prisma"`,
//! PlanetScale / Vitess), by authbridge itself with the same contract: a user delete takes the
//! user's sessions, accounts and authenticators with it, and a row for an unknown user is a 422.
//! docs/relation-mode.md has the reasoning in full; in short:
//!
//! - A write that makes a row point at a user runs in one transaction that first share-locks the
//!   user row (PostgreSQL `FOR KEY SHARE`, MySQL `LOCK IN SHARE MODE`) and answers 422 when there
//!   is none. The lock lasts until the row is committed, so a delete cannot slip in between.
//! - `deleteUser` runs in one transaction that first locks the user row exclusively (`FOR
//!   UPDATE`), then deletes the sessions, accounts and authenticators, then the user. Children
//!   first, so that any foreign key the database does have (cascading or not) is satisfied.
//! - Each statement after the lock must see every row committed before the lock was granted.
//!   PostgreSQL gives that in READ COMMITTED (each statement takes a new snapshot), so these
//!   transactions ask for it whatever `default_transaction_isolation` says; under REPEATABLE READ
//!   the deletes would use the snapshot taken before the lock wait and miss a session committed
//!   meanwhile. InnoDB's locking reads, `UPDATE` and `DELETE` read the latest committed rows at
//!   every isolation level. SQLite has one writer at a time: `BEGIN IMMEDIATE` takes the write
//!   lock first (waiting up to the busy timeout), so nothing else commits until the end.

use std::fmt;
use std::future::Future;

use clap::ValueEnum;
use diesel::QueryResult;
use diesel_async::{AsyncConnection, TransactionManager};

use super::tables::{TABLES, USER_ID, USERS};

/// Who keeps every session, account and authenticator pointing at an existing user (see
/// docs/relation-mode.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum RelationMode {
    /// Read the schema at start-up: `foreign-keys` when sessions, accounts and authenticators
    /// each have a foreign key to users with ON DELETE CASCADE, otherwise `prisma`.
    #[default]
    Auto,
    /// The database's foreign keys do it (Prisma's default, `relationMode = "foreignKeys"`);
    /// start-up fails when one of the three is missing.
    ForeignKeys,
    /// authbridge does it in its own transactions, as Prisma Client does with
    /// `relationMode = "prisma"` (PlanetScale / Vitess); correct with or without foreign keys.
    Prisma,
}

/// The flag's spelling (`foreign-keys`), for messages and logs.
impl fmt::Display for RelationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.to_possible_value().expect("no variant is skipped");
        f.write_str(value.get_name())
    }
}

/// A relation to `users.id`: the table and column that point at a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    pub table: &'static str,
    pub column: &'static str,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} -> {}.{USER_ID}", self.table, self.column, USERS.name)
    }
}

/// Every relation of the Auth.js schema: one per table with a `user_column`, in [`TABLES`] order.
/// All point at `users.id`.
pub const RELATIONS: [Relation; 3] = relations();

/// Reads [`RELATIONS`] off the description; a wrong length fails the build.
const fn relations<const N: usize>() -> [Relation; N] {
    let mut found = [Relation { table: "", column: "" }; N];
    let (mut t, mut n) = (0, 0);
    while t < TABLES.len() {
        if let Some(column) = TABLES[t].user_column {
            found[n] = Relation { table: TABLES[t].name, column };
            n += 1;
        }
        t += 1;
    }
    assert!(n == N, "RELATIONS has one entry per table with a user_column");
    found
}

/// What the live catalog says about [`RELATIONS`] (read by [`super::check::relations`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelationReport {
    /// Relations without a foreign key that deletes the row with its user (`ON DELETE CASCADE`).
    pub without_cascade: Vec<Relation>,
    /// Relations whose column is the first column of no index.
    pub without_index: Vec<Relation>,
}

impl RelationReport {
    /// The mode to run in: `auto` settled by the catalog, or the configured one when the catalog
    /// allows it. `foreign-keys` needs all three cascading foreign keys; `prisma` works on any
    /// schema (where foreign keys exist it is redundant, never wrong: children go first).
    pub fn resolve(&self, configured: RelationMode) -> Result<RelationMode, String> {
        match configured {
            RelationMode::Auto if self.without_cascade.is_empty() => Ok(RelationMode::ForeignKeys),
            RelationMode::Auto | RelationMode::Prisma => Ok(RelationMode::Prisma),
            RelationMode::ForeignKeys if self.without_cascade.is_empty() => Ok(RelationMode::ForeignKeys),
            RelationMode::ForeignKeys => Err(format!(
                "--relation-mode foreign-keys, but the database has no foreign key with ON DELETE CASCADE for {}: \
                 create them (Prisma's default relationMode = \"foreignKeys\" does), or run with --relation-mode prisma \
                 (or auto) so that authbridge enforces the relations itself",
                list(&self.without_cascade)
            )),
        }
    }

    /// One line on how the relations are enforced in `mode` (a resolved mode).
    pub fn describe(&self, mode: RelationMode) -> String {
        match mode {
            RelationMode::ForeignKeys => {
                "relations: enforced by the database's foreign keys (ON DELETE CASCADE)".into()
            }
            _ if self.without_cascade.is_empty() => "relations: enforced by authbridge's transactions (relation mode \
                 prisma); the database's cascading foreign keys do it too"
                .into(),
            _ => format!(
                "relations: enforced by authbridge's transactions (relation mode prisma); no cascading foreign key for {}",
                list(&self.without_cascade)
            ),
        }
    }

    /// What a missing index costs in `mode` (a resolved mode), one line each. Not an error:
    /// the contract holds without the index; only the user delete gets slower (and on MySQL it
    /// then locks every row of the table it scans, holding up other users' writes until it
    /// commits). With foreign keys the database indexes or scans as it sees fit, as Prisma has it.
    pub fn warnings(&self, mode: RelationMode) -> Vec<String> {
        if mode == RelationMode::ForeignKeys {
            return Vec::new();
        }
        self.without_index
            .iter()
            .map(|r| {
                format!(
                    "no index starts with `{table}`.`{column}`: without foreign keys every user delete scans \
                     `{table}` (add @@index([{column}]) to the model, as Prisma asks for relationMode = \"prisma\")",
                    table = r.table,
                    column = r.column
                )
            })
            .collect()
    }
}

fn list(relations: &[Relation]) -> String {
    relations.iter().map(Relation::to_string).collect::<Vec<_>>().join(", ")
}

/// The statements that differ per backend in the transactions of this module.
pub trait LockingConnection: AsyncConnection {
    /// Opens a transaction in which each statement sees the rows committed before it started.
    fn begin_locking_transaction(&mut self) -> impl Future<Output = QueryResult<()>> + Send;

    /// Keeps user `id` from being deleted until the transaction ends; `false` when there is no
    /// such user.
    fn lock_user_shared(&mut self, id: &str) -> impl Future<Output = QueryResult<bool>> + Send;
}

#[cfg(feature = "postgres")]
impl LockingConnection for diesel_async::AsyncPgConnection {
    /// Behind a transaction pooler (`pgbouncer=true`) the connection is already inside its unit
    /// of work, begun READ COMMITTED (`db::pg::UNIT_BEGIN`): the locking transaction is then a
    /// savepoint in it.
    async fn begin_locking_transaction(&mut self) -> QueryResult<()> {
        use diesel_async::TransactionManager;
        let in_unit =
            diesel_async::AnsiTransactionManager::transaction_manager_status_mut(self).transaction_depth()?.is_some();
        if in_unit {
            diesel_async::AnsiTransactionManager::begin_transaction(self).await
        } else {
            diesel_async::AnsiTransactionManager::begin_transaction_sql(self, crate::db::pg::UNIT_BEGIN).await
        }
    }

    /// `FOR KEY SHARE` conflicts only with deleting the row (or changing its id): `updateUser`
    /// and other creators go on.
    async fn lock_user_shared(&mut self, id: &str) -> QueryResult<bool> {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;

        use crate::db::schema::users;
        let found: Option<String> =
            users::table.find(id).select(users::id).for_key_share().first(self).await.optional()?;
        Ok(found.is_some())
    }
}

#[cfg(feature = "mysql")]
#[derive(diesel::QueryableByName)]
struct LockedId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[allow(dead_code, reason = "only the row's presence matters")]
    id: String,
}

#[cfg(feature = "mysql")]
impl LockingConnection for diesel_async::AsyncMysqlConnection {
    async fn begin_locking_transaction(&mut self) -> QueryResult<()> {
        diesel_async::AnsiTransactionManager::begin_transaction(self).await
    }

    /// `LOCK IN SHARE MODE`, not diesel's `FOR SHARE`: MariaDB (10.x, 11.x) knows only the former,
    /// MySQL 8 both.
    async fn lock_user_shared(&mut self, id: &str) -> QueryResult<bool> {
        use diesel_async::RunQueryDsl;
        let rows: Vec<LockedId> = diesel::sql_query("SELECT id FROM users WHERE id = ? LOCK IN SHARE MODE")
            .bind::<diesel::sql_types::Text, _>(id)
            .load(self)
            .await?;
        Ok(!rows.is_empty())
    }
}

/// SQLite has no row locks: `BEGIN IMMEDIATE` holds the database's one write lock for the whole
/// transaction, so plain reads are as good as locking ones.
#[cfg(feature = "sqlite")]
impl LockingConnection for super::SqliteConn {
    async fn begin_locking_transaction(&mut self) -> QueryResult<()> {
        self.spawn_blocking(|conn| {
            diesel::connection::AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")
        })
        .await
    }

    async fn lock_user_shared(&mut self, id: &str) -> QueryResult<bool> {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;

        use crate::db::schema::users;
        let found: Option<String> = users::table.find(id).select(users::id).first(self).await.optional()?;
        Ok(found.is_some())
    }
}

/// Commits the transaction when `result` is `Ok`, else rolls it back: what diesel-async's own
/// `transaction` does after its `BEGIN` (whose statement cannot be chosen).
pub async fn end_transaction<C: AsyncConnection, T>(conn: &mut C, result: QueryResult<T>) -> QueryResult<T> {
    match result {
        Ok(value) => {
            <C::TransactionManager as TransactionManager<C>>::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(error) => match <C::TransactionManager as TransactionManager<C>>::rollback_transaction(conn).await {
            // A broken connection is discarded by the pool; the original error says more.
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback_error) => Err(rollback_error),
        },
    }
}

/// Runs `$body` (an expression of type `QueryResult`, which may `return` early) in a transaction
/// begun by [`LockingConnection::begin_locking_transaction`]; evaluates to its `QueryResult`.
/// Meant for the body of `with_conn!`, whose `$conn` it uses.
macro_rules! locking_transaction {
    ($conn:ident => $body:expr) => {
        async {
            $crate::db::relations::LockingConnection::begin_locking_transaction(&mut *$conn).await?;
            let result: diesel::QueryResult<_> = async { $body }.await;
            $crate::db::relations::end_transaction(&mut *$conn, result).await
        }
        .await
    };
}
pub(crate) use locking_transaction;

/// Runs `$body`, one write of a row that points at user `$user_id`: as it is where the database's
/// foreign keys check the user (a violation is the 422), otherwise in a locking transaction that
/// share-locks the user first and answers [`super::Error::MissingUser`] when there is none.
macro_rules! write_for_user {
    ($db:expr, $user_id:expr, $conn:ident => $body:expr) => {
        if $db.foreign_keys_enforce_relations() {
            $crate::with_conn!($db, $conn => $body)
        } else {
            match $crate::with_conn!($db, $conn => $crate::db::relations::locking_transaction!($conn => {
                if !$crate::db::relations::LockingConnection::lock_user_shared(&mut *$conn, $user_id).await? {
                    return Ok(None);
                }
                $body.map(Some)
            })) {
                Ok(Some(written)) => Ok(written),
                Ok(None) => Err($crate::db::Error::MissingUser),
                Err(e) => Err(e),
            }
        }
    };
}
pub(crate) use write_for_user;

#[cfg(test)]
mod tests {
    use super::*;

    fn report(without_cascade: &[Relation], without_index: &[Relation]) -> RelationReport {
        RelationReport { without_cascade: without_cascade.to_vec(), without_index: without_index.to_vec() }
    }

    #[test]
    fn auto_needs_all_three_cascading_foreign_keys() {
        assert_eq!(report(&[], &[]).resolve(RelationMode::Auto), Ok(RelationMode::ForeignKeys));
        for missing in RELATIONS {
            assert_eq!(report(&[missing], &[]).resolve(RelationMode::Auto), Ok(RelationMode::Prisma), "{missing}");
        }
        assert_eq!(report(&RELATIONS, &[]).resolve(RelationMode::Auto), Ok(RelationMode::Prisma));
    }

    #[test]
    fn prisma_mode_runs_on_any_schema_and_foreign_keys_mode_names_what_is_missing() {
        assert_eq!(report(&[], &[]).resolve(RelationMode::Prisma), Ok(RelationMode::Prisma));
        assert_eq!(report(&RELATIONS, &[]).resolve(RelationMode::Prisma), Ok(RelationMode::Prisma));
        assert_eq!(report(&[], &[]).resolve(RelationMode::ForeignKeys), Ok(RelationMode::ForeignKeys));
        let error = report(&RELATIONS[1..], &[]).resolve(RelationMode::ForeignKeys).unwrap_err();
        assert!(error.contains("accounts.userId -> users.id, authenticators.userId -> users.id"), "{error}");
        assert!(!error.contains("sessions.userId"), "{error}");
    }

    #[test]
    fn a_missing_index_is_a_warning_only_without_foreign_keys() {
        let r = report(&RELATIONS, &RELATIONS[1..2]);
        let warnings = r.warnings(RelationMode::Prisma);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`accounts`.`userId`") && warnings[0].contains("@@index([userId])"));
        assert!(r.warnings(RelationMode::ForeignKeys).is_empty());
    }
}

//! Creating the schema (only where we own it) and getting a database ready to serve.
//!
//! Prisma owns production schemas. authbridge creates the tables only when the database has none
//! of them and Prisma has never migrated it, or when told to (`authbridge migrate`). A database
//! with `_prisma_migrations` is never migrated: it is verified, and start-up stops with a
//! readable diff when something authbridge needs is missing.
//!
//! `migrate` always creates Prisma's default schema, with its foreign keys. A database without
//! them (Prisma's `relationMode = "prisma"`) is one Prisma owns: authbridge only detects it and
//! enforces the relations itself (see [`super::relations`]).

use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::relations::{RelationMode, RelationReport};
use super::tables::TABLES;
use super::url::Target;
use super::{Db, Pool, PoolOptions, SqliteTimeFormat, StartError, check, with_conn};
use crate::at_rest::AtRest;

#[cfg(feature = "postgres")]
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
#[cfg(feature = "mysql")]
pub const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");
#[cfg(feature = "sqlite")]
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

const PRISMA_MIGRATIONS_TABLE: &str = "_prisma_migrations";
const DIESEL_MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// What start-up may do to the schema.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Migrate {
    /// Create the tables only in a database that has none of them (`serve`).
    #[default]
    IfEmpty,
    /// Apply pending migrations unless Prisma manages the database (`authbridge migrate`).
    Always,
}

/// What [`prepare`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub applied_migrations: usize,
    pub prisma_managed: bool,
    pub sqlite_format: Option<SqliteTimeFormat>,
    /// `foreign-keys` or `prisma`: the mode `auto` settled on, or the configured one.
    pub relation_mode: RelationMode,
    /// What the catalog says about the relations (for the start-up log).
    pub relations: RelationReport,
}

/// How start-up readies the database (see [`Db::connect`]).
#[derive(Debug, Default, Clone)]
pub struct Setup {
    pub migrate: Migrate,
    /// How tokens are kept at rest; the models apply it.
    pub at_rest: AtRest,
    /// As configured: `auto` is settled from the catalog.
    pub relation_mode: RelationMode,
    /// `None` detects the SQLite date format from the rows.
    pub sqlite_format: Option<SqliteTimeFormat>,
}

// Here rather than beside `Db::new`: the pool knows nothing of migrations, this module composes
// the two.
impl Db {
    /// Start-up in one call: builds the pool for `target`, then migrates as `setup.migrate`
    /// allows, verifies the schema, and settles the relation mode and the SQLite date format. The
    /// handle it returns is ready to serve.
    pub async fn connect(target: Target, options: &PoolOptions, setup: Setup) -> Result<(Self, Prepared), StartError> {
        let mut db = Self::new(target, options, SqliteTimeFormat::default())?;
        db.set_relation_mode(setup.relation_mode);
        db.set_at_rest(setup.at_rest);
        let prepared = prepare(&mut db, setup.migrate, setup.sqlite_format).await?;
        Ok((db, prepared))
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Lists the tables of the schema that unqualified names resolve to.
pub async fn existing_tables(db: &Db) -> Result<Vec<String>, StartError> {
    let rows: Vec<Name> = with_conn!(db, conn => sql_query(match db.pool() {
        #[cfg(feature = "postgres")]
        Pool::Postgres(_) => {
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema()"
        }
        #[cfg(feature = "mysql")]
        Pool::Mysql(_) => {
            "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables WHERE table_schema = DATABASE()"
        }
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table'",
    })
    .load(conn)
    .await)
    .map_err(StartError::from)?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// [`Db::connect`]'s work on a pool built with [`Db::new`] (for tests that set the database up
/// first): migrates (as `policy` allows), verifies the schema, settles the relation mode (from
/// the one set on `db`, `auto` by default) and the SQLite time format. `configured_format` is
/// `None` for auto-detection.
pub async fn prepare(
    db: &mut Db,
    policy: Migrate,
    configured_format: Option<SqliteTimeFormat>,
) -> Result<Prepared, StartError> {
    let tables = existing_tables(db).await?;
    let has = |name: &str| tables.iter().any(|t| t == name);
    let prisma_managed = has(PRISMA_MIGRATIONS_TABLE);
    let none_of_ours = TABLES.iter().all(|t| !has(t.name));
    let we_own_it = has(DIESEL_MIGRATIONS_TABLE) && !prisma_managed;

    let should_migrate = match policy {
        Migrate::IfEmpty => (none_of_ours && !prisma_managed) || we_own_it,
        Migrate::Always => {
            if prisma_managed {
                return Err(StartError::Schema(
                    "this database is managed by Prisma (_prisma_migrations exists): run `prisma migrate deploy`, \
                     authbridge never migrates it"
                        .into(),
                ));
            }
            true
        }
    };
    let applied_migrations = if should_migrate { run_migrations(db).await? } else { 0 };

    let report = check::check(db).await?;
    if !report.is_ok() {
        let hint = if prisma_managed && none_of_ours {
            "\nPrisma manages this database but the Auth.js tables are missing: add the Auth.js models to the Prisma schema and migrate."
        } else {
            ""
        };
        return Err(StartError::Schema(format!(
            "the database schema does not match what authbridge needs:\n{report}{hint}"
        )));
    }

    db.set_limits(report.limits);
    db.set_optional_columns(report.optional_present);

    let relations = check::relations(db).await?;
    let relation_mode = relations.resolve(db.relation_mode()).map_err(StartError::Schema)?;
    db.set_relation_mode(relation_mode);

    let sqlite_format = match db.pool() {
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => {
            let format = settle_sqlite_format(db, configured_format).await?;
            db.set_sqlite_format(format);
            Some(format)
        }
        #[allow(unreachable_patterns)]
        _ => {
            let _ = configured_format;
            None
        }
    };
    Ok(Prepared { applied_migrations, prisma_managed, sqlite_format, relation_mode, relations })
}

async fn run_migrations(db: &Db) -> Result<usize, StartError> {
    match db.target().clone() {
        #[cfg(feature = "postgres")]
        Target::Postgres { schema, .. } => {
            use diesel_async::SimpleAsyncConnection;
            let connector = db.pg_connector().ok_or_else(|| StartError::Connect("no PostgreSQL connector".into()))?;
            let mut conn = connector.connect().await.map_err(|e| StartError::Connect(e.to_string()))?;
            if let Some(schema) = schema {
                // Prisma creates the schema named by `?schema=`; so do we.
                let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
                conn.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}"))
                    .await
                    .map_err(|e| StartError::Query(e.to_string()))?;
            }
            match connector.unit_begin() {
                // Behind a transaction pooler every statement must share one transaction (see
                // `db::pg`): the migrations run in one, each in a savepoint of it.
                Some(begin) => run_blocking_in(conn, POSTGRES_MIGRATIONS, Some(begin.to_owned())).await,
                None => run_blocking(conn, POSTGRES_MIGRATIONS).await,
            }
        }
        // MySQL commits each DDL statement on its own: a migration that fails half-way leaves its
        // first tables behind, which the schema check then reports.
        #[cfg(feature = "mysql")]
        Target::Mysql { url, tls } => {
            // The pool's own way in, TLS included.
            let connector = super::mysql::Connector::new(&url, &tls)?;
            let conn = connector.connect().await.map_err(|e| StartError::Connect(e.to_string()))?;
            run_blocking(conn, MYSQL_MIGRATIONS).await
        }
        #[cfg(feature = "sqlite")]
        Target::Sqlite { .. } => {
            #[allow(irrefutable_let_patterns)]
            let Pool::Sqlite(pool) = db.pool() else { unreachable!("target and pool agree") };
            let mut conn = pool.get().await.map_err(|e| StartError::Connect(e.to_string()))?;
            let conn: &mut super::SqliteConn = &mut conn;
            conn.spawn_blocking(|c| {
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|v| v.len())
                    .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
            })
            .await
            .map_err(|e| StartError::Query(format!("migration failed: {e}")))
        }
        #[allow(unreachable_patterns)]
        other => Err(StartError::NotCompiled(other.backend_name(), other.feature())),
    }
}

/// diesel's migration harness is synchronous: run it on a blocking thread over the async
/// connection.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn run_blocking<C>(conn: C, migrations: EmbeddedMigrations) -> Result<usize, StartError>
where
    C: diesel_async::AsyncConnection<TransactionManager = diesel_async::AnsiTransactionManager> + 'static,
    diesel_async::async_connection_wrapper::AsyncConnectionWrapper<C>:
        diesel::Connection + MigrationHarness<<C as diesel_async::AsyncConnectionCore>::Backend>,
{
    run_blocking_in(conn, migrations, None).await
}

/// [`run_blocking`], inside one transaction opened by `begin` when it is given.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn run_blocking_in<C>(
    mut conn: C,
    migrations: EmbeddedMigrations,
    begin: Option<String>,
) -> Result<usize, StartError>
where
    C: diesel_async::AsyncConnection<TransactionManager = diesel_async::AnsiTransactionManager> + 'static,
    diesel_async::async_connection_wrapper::AsyncConnectionWrapper<C>:
        diesel::Connection + MigrationHarness<<C as diesel_async::AsyncConnectionCore>::Backend>,
{
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    let failed = |e: String| StartError::Query(format!("migration failed: {e}"));
    if let Some(begin) = &begin {
        AnsiTransactionManager::begin_transaction_sql(&mut conn, begin).await.map_err(|e| failed(e.to_string()))?;
    }
    let (mut conn, applied) = tokio::task::spawn_blocking(move || {
        let mut wrapped = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<C>::from(conn);
        let applied = wrapped.run_pending_migrations(migrations).map(|v| v.len()).map_err(|e| e.to_string());
        (wrapped.into_inner(), applied)
    })
    .await
    .map_err(|e| StartError::Query(format!("migration task failed: {e}")))?;
    if begin.is_some() {
        match &applied {
            Ok(_) => AnsiTransactionManager::commit_transaction(&mut conn).await.map_err(|e| failed(e.to_string()))?,
            Err(_) => {
                let _ = AnsiTransactionManager::rollback_transaction(&mut conn).await;
            }
        }
    }
    applied.map_err(failed)
}

#[cfg(feature = "sqlite")]
#[derive(QueryableByName)]
struct TypeCount {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
}

/// SQLite holds Prisma dates as text or as integer milliseconds, and comparisons only work when
/// one format is used throughout: use the one the existing rows use.
#[cfg(feature = "sqlite")]
async fn settle_sqlite_format(db: &Db, configured: Option<SqliteTimeFormat>) -> Result<SqliteTimeFormat, StartError> {
    // Every DateTime column of the description, in one statement. Not the optional ones: they
    // may be missing, nothing compares them, and SQLite's `CURRENT_TIMESTAMP` default fills
    // `createdAt` with text whatever the other dates hold.
    let sql = TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .filter(|c| c.kind == super::tables::Kind::DateTime && !c.optional)
                .map(move |c| (t.name, c.name))
        })
        .map(|(table, column)| {
            format!("SELECT typeof(\"{column}\") AS kind, COUNT(*) AS rows FROM {table} WHERE \"{column}\" IS NOT NULL GROUP BY 1")
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let counts: Vec<TypeCount> = with_conn!(db, conn => sql_query(&sql).load(conn).await).map_err(StartError::from)?;
    let seen = |kind: &str| counts.iter().any(|c| c.kind == kind && c.rows > 0);
    let detected = match (seen("text"), seen("integer") || seen("real")) {
        (true, true) => {
            return Err(StartError::Schema(
                "this SQLite database holds dates both as text and as integer milliseconds; SQLite cannot compare \
                 the two, so expiry checks would be wrong. Convert the rows to one format first."
                    .into(),
            ));
        }
        (true, false) => Some(SqliteTimeFormat::Iso8601),
        (false, true) => Some(SqliteTimeFormat::UnixEpochMs),
        (false, false) => None,
    };
    match (configured, detected) {
        (Some(want), Some(found)) if want != found => Err(StartError::Schema(format!(
            "--sqlite-datetime-format is {} but the existing rows use {}; writing {} would break expiry comparisons",
            want.name(),
            found.name(),
            want.name()
        ))),
        (Some(want), _) => Ok(want),
        (None, Some(found)) => Ok(found),
        (None, None) => Ok(SqliteTimeFormat::default()),
    }
}

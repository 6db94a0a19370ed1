//! The database: one enum of pools, the backend chosen from the URL scheme, and one dispatch
//! macro that runs the same diesel DSL on whichever backend is configured.

pub mod check;
pub mod exact;
pub mod migrate;
pub mod schema;
pub mod time;
pub mod url;

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
#[cfg(feature = "mysql")]
pub use diesel_async::AsyncMysqlConnection;
#[cfg(feature = "postgres")]
pub use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Pool as DeadPool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};

pub use self::check::{ColumnLimits, TooLong};
pub use self::time::{DbTime, SqliteTimeFormat};
use self::url::Target;

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!("enable at least one database backend feature: postgres, mysql or sqlite");

#[cfg(feature = "sqlite")]
pub type SqliteConn = diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>;

/// One bounded pool per process, for whichever backend `DATABASE_URL` names.
#[derive(Clone)]
pub enum Pool {
    #[cfg(feature = "postgres")]
    Postgres(DeadPool<AsyncPgConnection>),
    #[cfg(feature = "mysql")]
    Mysql(DeadPool<AsyncMysqlConnection>),
    #[cfg(feature = "sqlite")]
    Sqlite(DeadPool<SqliteConn>),
}

/// The database handle shared by every request.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    target: Target,
    sqlite_format: SqliteTimeFormat,
    /// The declared lengths of the string columns, read by the schema check.
    limits: Arc<ColumnLimits>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database pool: {0}")]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Query(#[from] DieselError),
    /// A value longer than its column: refused before the write, never truncated.
    #[error(transparent)]
    TooLong(#[from] TooLong),
}

impl Error {
    /// True when the database could not be reached or the pool had no connection to give in
    /// time: the request may succeed if retried.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Query(DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            Self::Query(DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                // SQLite answers "database is locked" once busy_timeout has passed; MySQL gives up
                // on a row lock after innodb_lock_wait_timeout, and mysql_async reports a dropped
                // connection as an I/O error.
                let message = info.message();
                ["database is locked", "connection closed", "Lock wait timeout exceeded", "Input/output error"]
                    .iter()
                    .any(|m| message.contains(m))
            }
            _ => false,
        }
    }
}

pub type DbResult<T> = Result<T, Error>;

/// Pool settings from the configuration.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: usize,
    /// How long a request waits for a connection before it is answered 503.
    pub wait_timeout: Duration,
    /// How long SQLite waits for a competing writer before giving up.
    pub sqlite_busy_timeout: Duration,
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend is configured.
/// The body is written once and type-checked against each backend. The second form gives MySQL
/// its own body, for the statements that need `RETURNING` elsewhere (MySQL has none).
#[doc(hidden)]
#[macro_export]
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:expr) => {
        $crate::with_conn!($db, $conn => $body, mysql: $conn => $body)
    };
    ($db:expr, $conn:ident => $body:expr, mysql: $mconn:ident => $mbody:expr) => {
        async {
            match $db.pool() {
                #[cfg(feature = "postgres")]
                $crate::db::Pool::Postgres(pool) => {
                    let mut pooled = pool.get().await?;
                    let $conn = &mut *pooled;
                    Ok::<_, $crate::db::Error>($body?)
                }
                #[cfg(feature = "sqlite")]
                $crate::db::Pool::Sqlite(pool) => {
                    let mut pooled = pool.get().await?;
                    let $conn = &mut *pooled;
                    Ok::<_, $crate::db::Error>($body?)
                }
                #[cfg(feature = "mysql")]
                $crate::db::Pool::Mysql(pool) => {
                    let mut pooled = pool.get().await?;
                    let $mconn = &mut *pooled;
                    Ok::<_, $crate::db::Error>($mbody?)
                }
            }
        }
        .await
    };
}
pub use with_conn;

/// MySQL's stand-in for `DELETE ... RETURNING`, in one transaction: read the row under a write
/// lock, then delete it. A concurrent caller blocks on the lock and then reads nothing, so of
/// any number of callers exactly one gets the row (InnoDB's locking read sees the latest
/// committed state, not the transaction's snapshot).
macro_rules! lock_then_delete {
    ($conn:expr, $select:expr, $delete:expr) => {
        diesel_async::AsyncConnection::transaction($conn, async |conn| {
            let row = $select.for_update().first(conn).await.optional()?;
            if row.is_some() {
                $delete.execute(conn).await?;
            }
            Ok::<_, diesel::result::Error>(row)
        })
        .await
    };
}
pub(crate) use lock_then_delete;

/// MySQL's stand-in for `UPDATE ... RETURNING`, in one transaction: the update takes the row
/// lock, the read then sees the row as this transaction left it. The affected count is the
/// number of rows *matched* (diesel-async sets `CLIENT_FOUND_ROWS`), so an update that changes
/// nothing still finds its row.
macro_rules! update_then_read {
    ($conn:expr, $update:expr, $select:expr) => {
        diesel_async::AsyncConnection::transaction($conn, async |conn| {
            if $update.execute(conn).await? == 0 {
                return Ok::<_, diesel::result::Error>(None);
            }
            $select.first(conn).await.optional()
        })
        .await
    };
}
pub(crate) use update_then_read;

impl Db {
    /// Builds the pool for `target`. No connection is opened yet.
    pub fn new(target: Target, options: &PoolOptions, sqlite_format: SqliteTimeFormat) -> Result<Self, StartError> {
        let pool = match &target {
            #[cfg(feature = "postgres")]
            Target::Postgres { url, .. } => {
                let mut config = ManagerConfig::default();
                // `Verified` would add a `SELECT 1` round trip to every checkout; a broken
                // connection is detected by the query that uses it and then discarded.
                config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::new_with_config(url.clone(), config);
                Pool::Postgres(build_pool(manager, options)?)
            }
            #[cfg(feature = "mysql")]
            Target::Mysql { url } => {
                let mut config = ManagerConfig::<AsyncMysqlConnection>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| {
                    use futures_util::FutureExt;
                    let url = url.to_owned();
                    async move {
                        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
                        // diesel-async already sets time_zone '+00:00' (DATETIME holds UTC wall
                        // time, as Prisma writes it) and utf8mb4. Strict mode turns an over-long
                        // value into an error instead of a silent truncation (we also check
                        // lengths before writing) and refuses zero dates.
                        let mut conn = AsyncMysqlConnection::establish(&url).await?;
                        conn.batch_execute(MYSQL_SESSION_SETUP)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::new_with_config(url.clone(), config);
                Pool::Mysql(build_pool(manager, options)?)
            }
            #[cfg(feature = "sqlite")]
            Target::Sqlite { path } => {
                use diesel::connection::SimpleConnection;
                use diesel_async::AsyncConnection;
                use futures_util::FutureExt;
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| StartError::Io(parent.to_owned(), e))?;
                }
                let busy_ms = options.sqlite_busy_timeout.as_millis();
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |path| {
                    let path = path.to_owned();
                    async move {
                        let mut conn = SqliteConn::establish(&path).await?;
                        conn.spawn_blocking(move |c| {
                            // Cascades depend on foreign_keys, which SQLite turns off per connection.
                            c.batch_execute(&format!(
                                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL;"
                            ))
                        })
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::new_with_config(path.to_string_lossy(), config);
                Pool::Sqlite(build_pool(manager, options)?)
            }
            #[allow(unreachable_patterns)]
            other => return Err(StartError::NotCompiled(other.backend_name(), other.feature())),
        };
        Ok(Self { pool, target, sqlite_format, limits: Arc::default() })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn backend_name(&self) -> &'static str {
        self.target.backend_name()
    }

    /// Refuses a value longer than its column allows (see [`ColumnLimits`]), before any write.
    pub fn check_lengths(&self, table: &'static str, values: &[(&'static str, Option<&str>)]) -> Result<(), TooLong> {
        values.iter().try_for_each(|&(column, value)| self.limits.check(table, column, value))
    }

    pub(crate) fn set_limits(&mut self, limits: ColumnLimits) {
        self.limits = Arc::new(limits);
    }

    pub fn sqlite_format(&self) -> SqliteTimeFormat {
        self.sqlite_format
    }

    pub(crate) fn set_sqlite_format(&mut self, format: SqliteTimeFormat) {
        self.sqlite_format = format;
    }

    /// A time in the form this database stores it.
    pub fn time(&self, at: DateTime<Utc>) -> DbTime {
        DbTime::new(at, self.sqlite_format)
    }

    /// The current time, truncated to milliseconds.
    pub fn now(&self) -> DbTime {
        self.time(Utc::now())
    }

    /// Current pool figures: `max_size`, `size` (open), `available` (idle), `waiting`.
    pub fn pool_status(&self) -> deadpool::Status {
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.status(),
            #[cfg(feature = "mysql")]
            Pool::Mysql(p) => p.status(),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.status(),
        }
    }
}

/// Run once per new MySQL connection. `STRICT_ALL_TABLES` errors on over-long strings and bad
/// dates instead of truncating them; the rest is MySQL 8's default minus what would change how
/// our statements parse (`ANSI_QUOTES`) or compare.
#[cfg(feature = "mysql")]
const MYSQL_SESSION_SETUP: &str =
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'";

#[allow(dead_code)]
fn build_pool<C>(manager: AsyncDieselConnectionManager<C>, options: &PoolOptions) -> Result<DeadPool<C>, StartError>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    DeadPool::builder(manager)
        .max_size(options.max_size)
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.wait_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StartError::Pool(e.to_string()))
}

/// Why the database could not be made ready. Never carries a URL or password.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create directory {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database error during start-up: {0}")]
    Query(String),
    #[error("{0}")]
    Schema(String),
    #[error(
        "DATABASE_URL names a {0} database, but this authbridge was built without the `{1}` feature \
         (rebuild with `cargo build --features {1}`)"
    )]
    NotCompiled(&'static str, &'static str),
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        match e {
            Error::Pool(p) => StartError::Connect(p.to_string()),
            Error::Query(q) => StartError::Query(q.to_string()),
            Error::TooLong(t) => StartError::Query(t.to_string()),
        }
    }
}

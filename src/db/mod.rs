//! The database: one enum of pools, the backend chosen from the URL scheme, and one dispatch
//! macro that runs the same diesel DSL on whichever backend is configured.

pub mod check;
pub mod migrate;
pub mod schema;
pub mod time;
pub mod url;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::SqliteConnection;
use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::{Pool as DeadPool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::FutureExt;

pub use self::time::{DbTime, SqliteTimeFormat};
use self::url::Target;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// One bounded pool per process, for whichever backend `DATABASE_URL` names.
#[derive(Clone)]
pub enum Pool {
    Postgres(DeadPool<AsyncPgConnection>),
    Sqlite(DeadPool<SqliteConn>),
}

/// The database handle shared by every request.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    target: Target,
    sqlite_format: SqliteTimeFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database pool: {0}")]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Query(#[from] DieselError),
}

impl Error {
    /// True when the database could not be reached, went away mid-request or the pool had no
    /// connection to give in time: the request may succeed if retried.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            // The socket closed or failed under the query (PostgreSQL stopped or crashed): the
            // driver has no SQLSTATE to give, only the I/O error.
            Self::Query(DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => true,
            Self::Query(DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                is_unavailable_message(info.message())
            }
            _ => false,
        }
    }
}

/// diesel-async maps every SQLSTATE it does not name to `Unknown` and exposes only the server's
/// message, so the unavailability errors are recognised by their (English, the server default)
/// messages: PostgreSQL's 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
/// 57P05 idle-session timeout and 53300 too_many_connections, and SQLite's busy timeout.
fn is_unavailable_message(message: &str) -> bool {
    const MESSAGES: &[&str] = &[
        "database is locked",
        "connection closed",
        "terminating connection due to administrator command",
        "terminating connection because of crash of another server process",
        "terminating connection due to idle-session timeout",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "the database system is not yet accepting connections",
        "too many clients already",
        "remaining connection slots are reserved",
    ];
    MESSAGES.iter().any(|m| message.contains(m))
}

pub type DbResult<T> = Result<T, Error>;

/// `get_result` for writes: the row of an `INSERT`/`UPDATE`/`DELETE ... RETURNING`, handed back
/// only once the statement has committed.
///
/// diesel-async's `get_result` returns as soon as the first row arrives. PostgreSQL sends that row
/// before it commits an autocommit statement (the commit happens at the protocol's Sync), so a
/// database crash in between would report success for a write that never committed; the
/// database-fault test caught exactly that. `load` reads the whole answer, up to ReadyForQuery,
/// which PostgreSQL sends after the commit. (A write inside an explicit transaction is covered by
/// its awaited `COMMIT` and may use `get_result`.)
pub trait GetCommitted<Conn>: diesel_async::RunQueryDsl<Conn> + Sized {
    #[allow(clippy::type_complexity, reason = "a nameable future, as diesel-async's own methods return")]
    fn get_committed<'query, 'conn, U>(
        self,
        conn: &'conn mut Conn,
    ) -> futures_util::future::Map<
        diesel_async::return_futures::LoadFuture<'conn, 'query, Self, Conn, U>,
        fn(diesel::QueryResult<Vec<U>>) -> diesel::QueryResult<U>,
    >
    where
        U: Send,
        Conn: diesel_async::AsyncConnectionCore,
        Self: diesel_async::methods::LoadQuery<'query, Conn, U> + 'query,
    {
        self.load(conn).map(first_row::<U> as fn(_) -> _)
    }
}

impl<T: diesel_async::RunQueryDsl<Conn>, Conn> GetCommitted<Conn> for T {}

/// The first row, or `NotFound` as `get_result` would say.
fn first_row<U>(rows: diesel::QueryResult<Vec<U>>) -> diesel::QueryResult<U> {
    rows?.into_iter().next().ok_or(DieselError::NotFound)
}

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
/// The body is written once and type-checked against each backend.
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:expr) => {
        async {
            match $db.pool() {
                $crate::db::Pool::Postgres(pool) => {
                    let mut pooled = pool.get().await?;
                    let $conn = &mut *pooled;
                    Ok::<_, $crate::db::Error>($body?)
                }
                $crate::db::Pool::Sqlite(pool) => {
                    let mut pooled = pool.get().await?;
                    let $conn = &mut *pooled;
                    Ok::<_, $crate::db::Error>($body?)
                }
            }
        }
        .await
    };
}
pub(crate) use with_conn;

impl Db {
    /// Builds the pool for `target`. No connection is opened yet.
    pub fn new(target: Target, options: &PoolOptions, sqlite_format: SqliteTimeFormat) -> Result<Self, StartError> {
        let pool = match &target {
            Target::Postgres { url, .. } => {
                let mut config = ManagerConfig::default();
                // `Verified` would add a `SELECT 1` round trip to every checkout; a broken
                // connection is detected by the query that uses it and then discarded.
                config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::new_with_config(url.clone(), config);
                Pool::Postgres(build_pool(manager, options)?)
            }
            Target::Sqlite { path } => {
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
        };
        Ok(Self { pool, target, sqlite_format })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn backend_name(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgresql",
            Pool::Sqlite(_) => "sqlite",
        }
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
            Pool::Postgres(p) => p.status(),
            Pool::Sqlite(p) => p.status(),
        }
    }
}

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
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        match e {
            Error::Pool(p) => StartError::Connect(p.to_string()),
            Error::Query(q) => StartError::Query(q.to_string()),
        }
    }
}

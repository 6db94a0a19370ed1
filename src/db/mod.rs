//! The database: one enum of pools, the backend chosen from the URL scheme, and one dispatch
//! macro that runs the same diesel DSL on whichever backend is configured.

pub mod check;
pub mod exact;
pub mod migrate;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod notify;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod relations;
pub mod schema;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod tables;
pub mod time;
pub mod url;

use std::collections::HashSet;
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

use self::relations::RelationMode;
pub use self::tables::{ColumnLimits, TooLong};
pub use self::time::{DbTime, SqliteTimeFormat};
use self::url::Target;
use crate::at_rest::AtRest;

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
    /// The optional columns (see `tables::Column::optional`) the schema check found.
    optional_columns: Arc<HashSet<(&'static str, &'static str)>>,
    /// As configured until start-up has read the schema, then `foreign-keys` or `prisma`.
    relation_mode: RelationMode,
    /// How session tokens and OAuth tokens are stored (the models apply it).
    at_rest: AtRest,
    /// Opens every PostgreSQL connection (the pool's and the migration's).
    #[cfg(feature = "postgres")]
    pg: Option<Arc<pg::Connector>>,
    /// Whether the writes the session cache cares about send their notification (see
    /// [`notify`]); set by [`Db::notifying`].
    notifies: bool,
    /// The session read's connections on SQLite (see [`first_optional`]).
    #[cfg(feature = "sqlite")]
    readers: Option<Arc<sqlite::Readers>>,
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
    /// A row would point at a user that does not exist: what a foreign key violation says, found
    /// by authbridge where the database has no foreign keys (see [`relations`]).
    #[error("no user has this userId")]
    MissingUser,
    /// A stored OAuth token that the configured keys do not open.
    #[error(transparent)]
    Undecryptable(#[from] crate::at_rest::Undecryptable),
}

impl Error {
    /// InnoDB rolled the transaction back to break a deadlock (error 1213).
    pub fn is_deadlock(&self) -> bool {
        matches!(self, Self::Query(DieselError::DatabaseError(_, info)) if info.message().contains("Deadlock found"))
    }

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

/// What SQLite says when another connection holds the lock it needs and the busy timeout ran out.
pub const SQLITE_LOCKED: &str = "database is locked";

/// diesel-async maps every SQLSTATE it does not name to `Unknown` and exposes only the server's
/// message, so the unavailability errors are recognised by their (English, the server default)
/// messages: PostgreSQL's 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
/// 57P05 idle-session timeout and 53300 too_many_connections, and SQLite's busy timeout.
fn is_unavailable_message(message: &str) -> bool {
    const MESSAGES: &[&str] = &[
        // SQLite, once busy_timeout has passed.
        SQLITE_LOCKED,
        "connection closed",
        // MySQL gives up on a row lock after innodb_lock_wait_timeout, rolls back a deadlock
        // victim (the retry succeeds), and mysql_async reports a dropped connection as I/O.
        "Lock wait timeout exceeded",
        "Deadlock found",
        "Input/output error",
        // PostgreSQL shutting down, crashing or full.
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

/// How often a MySQL statement or transaction chosen as a deadlock victim is run again before
/// the request is answered 503. Concurrent rotations of one token deadlock on the unique index
/// under load; the retry then finds the row gone and answers as PostgreSQL would.
pub const DEADLOCK_RETRIES: u32 = 3;

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
        futures_util::FutureExt::map(self.load(conn), first_row::<U> as fn(_) -> _)
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
                $crate::db::Pool::Postgres(pool) => $crate::db::pg::with_pg_conn!($db, pool, $conn => $body),
                #[cfg(feature = "sqlite")]
                $crate::db::Pool::Sqlite(pool) => {
                    let mut pooled = pool.get().await?;
                    let $conn = &mut *pooled;
                    Ok::<_, $crate::db::Error>($body?)
                }
                #[cfg(feature = "mysql")]
                $crate::db::Pool::Mysql(pool) => {
                    let mut pooled = pool.get().await?;
                    // InnoDB rolls a deadlock victim back whole and expects the client to run
                    // it again; every body is one statement or one transaction, so that is safe.
                    let mut attempt = 0;
                    loop {
                        let $mconn = &mut *pooled;
                        match $mbody.map_err($crate::db::Error::from) {
                            Err(e) if e.is_deadlock() && attempt < $crate::db::DEADLOCK_RETRIES => attempt += 1,
                            result => break Ok::<_, $crate::db::Error>(result?),
                        }
                    }
                }
            }
        }
        .await
    };
}
pub use with_conn;

/// `$query.first(conn).optional()`: on SQLite on one of the readers, on this thread (see
/// [`sqlite::Readers`]), when one is free; otherwise, and on the other backends, on a pooled
/// connection. `$query` is written once and expanded for both.
macro_rules! first_optional {
    ($db:expr, $query:expr) => {
        async {
            #[cfg(feature = "sqlite")]
            if let Some(found) = $db
                .sqlite_readers()
                .and_then(|readers| readers.run(|conn| diesel::OptionalExtension::optional(diesel::RunQueryDsl::first($query, conn))))
            {
                return Ok::<_, $crate::db::Error>(found?);
            }
            $crate::with_conn!($db, conn => diesel::OptionalExtension::optional(diesel_async::RunQueryDsl::first($query, conn).await))
        }
        .await
    };
}
pub(crate) use first_optional;

/// `DELETE ... RETURNING` of the row `$query` matches, read as `$row`, on every backend.
///
/// MySQL has none: there the row is read under a write lock and then deleted, in one transaction.
/// A concurrent caller blocks on the lock and then reads nothing, so of any number of callers
/// exactly one gets the row (InnoDB's locking read sees the latest committed state, not the
/// transaction's snapshot). A trailing `announced` sends the row's session cache notification
/// in the write's transaction when the handle notifies (see [`notify::returning_announced`]).
macro_rules! delete_returning {
    ($db:expr, $query:expr, $row:ty) => {
        $crate::db::delete_returning!($db, $query, $row, plain)
    };
    ($db:expr, $query:expr, $row:ty, $announce:ident) => {
        $crate::with_conn!($db, conn => $crate::db::notify::returning_announced!(
            $db,
            conn,
            diesel::delete($query).returning(<$row>::as_returning()),
            $announce
        ),
        mysql: conn => diesel_async::AsyncConnection::transaction(conn, async |conn| {
            let row = $query.select(<$row>::as_select()).for_update().first(conn).await.optional()?;
            if row.is_some() {
                diesel::delete($query).execute(conn).await?;
            }
            Ok::<_, diesel::result::Error>(row)
        })
        .await)
    };
}
pub(crate) use delete_returning;

/// `UPDATE ... RETURNING` of the row `$query` matches, read as `$row`, on every backend;
/// `$read_back` finds the row after the update (it differs when the update changes the key).
///
/// On MySQL the update runs first (taking the row lock) and the read follows in the same
/// transaction. The affected count is the number of rows *matched* (diesel-async sets
/// `CLIENT_FOUND_ROWS`), so an update that changes nothing still finds its row. A trailing
/// `announced` works as in [`delete_returning`].
macro_rules! update_returning {
    ($db:expr, $query:expr, $changes:expr, $row:ty, read_back: $read_back:expr) => {
        $crate::db::update_returning!($db, $query, $changes, $row, read_back: $read_back, plain)
    };
    ($db:expr, $query:expr, $changes:expr, $row:ty, read_back: $read_back:expr, $announce:ident) => {
        $crate::with_conn!($db, conn => $crate::db::notify::returning_announced!(
            $db,
            conn,
            diesel::update($query).set($changes).returning(<$row>::as_returning()),
            $announce
        ),
        mysql: conn => diesel_async::AsyncConnection::transaction(conn, async |conn| {
            if diesel::update($query).set($changes).execute(conn).await? == 0 {
                return Ok::<_, diesel::result::Error>(None);
            }
            $read_back.select(<$row>::as_select()).first(conn).await.optional()
        })
        .await)
    };
}
pub(crate) use update_returning;

impl Db {
    /// Builds the pool for `target`. No connection is opened yet, nothing is checked: start-up
    /// uses [`Db::connect`]; this is for `check-schema` and for tests that set a database up by
    /// hand.
    pub fn new(target: Target, options: &PoolOptions, sqlite_format: SqliteTimeFormat) -> Result<Self, StartError> {
        // Reads the certificate files now: a bad one is a configuration error, not a pool error.
        #[cfg(feature = "postgres")]
        let pg = match &target {
            Target::Postgres { url, schema, tls, pgbouncer } => {
                Some(Arc::new(pg::Connector::new(url, schema.as_deref(), tls, *pgbouncer)?))
            }
            _ => None,
        };
        let pool = match &target {
            #[cfg(feature = "postgres")]
            Target::Postgres { url, .. } => {
                let connector = pg.clone().ok_or_else(|| StartError::Pool("no PostgreSQL connector".into()))?;
                let mut config = ManagerConfig::default();
                // `Verified` would add a `SELECT 1` round trip to every checkout; a broken
                // connection is detected by the query that uses it and then discarded.
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |_url| {
                    let connector = Arc::clone(&connector);
                    futures_util::FutureExt::boxed(async move { connector.connect().await })
                });
                let manager = AsyncDieselConnectionManager::new_with_config(url.clone(), config);
                Pool::Postgres(build_pool(manager, options)?)
            }
            #[cfg(feature = "mysql")]
            Target::Mysql { url, tls } => {
                let connector = mysql::Connector::new(url, tls)?;
                if let Some(warning) = tls.warning() {
                    tracing::warn!("{warning}");
                } else if tls.mode != url::MysqlSslMode::Disabled {
                    tracing::info!(sslmode = tls.mode.name(), "MySQL connections use TLS");
                }
                let mut config = ManagerConfig::<AsyncMysqlConnection>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |_url| {
                    use futures_util::FutureExt;
                    let connector = connector.clone();
                    async move { connector.connect().await }.boxed()
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
                let setup = sqlite::setup_sql(options.sqlite_busy_timeout.as_millis());
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |path| {
                    let path = path.to_owned();
                    let setup = setup.clone();
                    async move {
                        let mut conn = SqliteConn::establish(&path).await?;
                        conn.spawn_blocking(move |c| c.batch_execute(&setup))
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
        #[cfg(feature = "sqlite")]
        let readers = match &target {
            Target::Sqlite { path } => Some(Arc::new(sqlite::Readers::new(path.to_string_lossy().into_owned()))),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        Ok(Self {
            pool,
            target,
            sqlite_format,
            limits: Arc::default(),
            optional_columns: Arc::default(),
            relation_mode: RelationMode::default(),
            at_rest: AtRest::default(),
            #[cfg(feature = "postgres")]
            pg,
            notifies: false,
            #[cfg(feature = "sqlite")]
            readers,
        })
    }

    /// The PostgreSQL connector (`None` on the other backends).
    #[cfg(feature = "postgres")]
    pub fn pg_connector(&self) -> Option<&pg::Connector> {
        self.pg.as_deref()
    }

    /// SQLite's readers (`None` on the other backends).
    #[cfg(feature = "sqlite")]
    pub fn sqlite_readers(&self) -> Option<&sqlite::Readers> {
        self.readers.as_deref()
    }

    /// The SQL that opens each unit of work behind a transaction pooler (`pgbouncer=true`).
    #[cfg(feature = "postgres")]
    pub fn pg_unit_begin(&self) -> Option<&str> {
        self.pg.as_deref().and_then(pg::Connector::unit_begin)
    }

    /// This handle with the session cache's notifications on (see [`notify`]) where the backend
    /// has a channel for them, PostgreSQL; unchanged on the others.
    pub fn notifying(self) -> Self {
        let notifies = self.has_notification_channel();
        Self { notifies, ..self }
    }

    /// Whether the backend has a `LISTEN` / `NOTIFY` channel.
    pub fn has_notification_channel(&self) -> bool {
        match self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Whether writes send the session cache's notification in their transaction.
    pub fn notifies(&self) -> bool {
        self.notifies
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
    pub fn check_lengths(
        &self,
        table: &'static tables::Table,
        values: &[(&'static str, Option<&str>)],
    ) -> Result<(), TooLong> {
        values.iter().try_for_each(|&(column, value)| self.limits.check(table, column, value))
    }

    pub(crate) fn set_limits(&mut self, limits: ColumnLimits) {
        self.limits = Arc::new(limits);
    }

    /// `name` quoted as an identifier for this backend; only for names the code holds, never input.
    pub fn quote_identifier(&self, name: &str) -> String {
        match self.pool() {
            #[cfg(feature = "mysql")]
            Pool::Mysql(_) => format!("`{name}`"),
            #[allow(unreachable_patterns)]
            _ => format!("\"{name}\""),
        }
    }

    /// Whether the schema has this optional column (the others always exist once started).
    pub fn has_column(&self, table: &tables::Table, column: &str) -> bool {
        self.optional_columns.iter().any(|&(t, c)| t == table.name && c == column)
    }

    pub(crate) fn set_optional_columns(&mut self, present: HashSet<(&'static str, &'static str)>) {
        self.optional_columns = Arc::new(present);
    }

    /// Who enforces the relations to users: the configured mode before start-up has read the
    /// schema (see [`Db::connect`]), `foreign-keys` or `prisma` after.
    pub fn relation_mode(&self) -> RelationMode {
        self.relation_mode
    }

    /// Sets the mode to run in (`auto` is settled by [`Db::connect`]).
    pub fn set_relation_mode(&mut self, mode: RelationMode) {
        self.relation_mode = mode;
    }

    /// True when the database's foreign keys delete a user's rows with it and refuse rows for an
    /// unknown user. An unsettled `auto` counts as false: authbridge's own enforcement is correct
    /// on any schema.
    pub fn foreign_keys_enforce_relations(&self) -> bool {
        self.relation_mode == RelationMode::ForeignKeys
    }

    pub fn at_rest(&self) -> &AtRest {
        &self.at_rest
    }

    pub fn set_at_rest(&mut self, at_rest: AtRest) {
        self.at_rest = at_rest;
    }

    pub fn sqlite_format(&self) -> SqliteTimeFormat {
        self.sqlite_format
    }

    #[cfg(feature = "sqlite")]
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
    /// TLS settings that cannot be used (an unreadable certificate file, ...): a configuration error.
    #[error("PostgreSQL TLS: {0}")]
    Tls(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database error during start-up: {0}")]
    Query(String),
    /// MySQL settings that cannot be used (a certificate file missing or unreadable, ...).
    #[error("{0}")]
    MysqlSettings(String),
    #[error("{0}")]
    Schema(String),
    #[error(
        "DATABASE_URL names a {0} database, but this authbridge was built without the `{1}` feature \
         (rebuild with `cargo build --features {1}`)"
    )]
    NotCompiled(&'static str, &'static str),
}

impl StartError {
    /// True for settings that cannot work, found while building the pool before any connection:
    /// the command line or environment must change. False for a database that is not ready.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::Io(..) | Self::Pool(_) | Self::Tls(_) | Self::MysqlSettings(_) | Self::NotCompiled(..))
    }
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        match e {
            // deadpool's "Error occurred while creating a new object: " adds nothing for a reader.
            Error::Pool(PoolError::Backend(connect)) => StartError::Connect(connect.to_string()),
            Error::Pool(p) => StartError::Connect(p.to_string()),
            Error::Query(q) => StartError::Query(q.to_string()),
            Error::TooLong(t) => StartError::Query(t.to_string()),
            Error::MissingUser => StartError::Query(Error::MissingUser.to_string()),
            Error::Undecryptable(u) => StartError::Query(u.to_string()),
        }
    }
}

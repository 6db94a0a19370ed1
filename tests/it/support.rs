//! The backends, scratch databases, and `TestApp`: the real router in-process on a fresh database
//! of the chosen backend.

use std::sync::atomic::{AtomicU64, Ordering};

use authbridge::at_rest::AtRest;
use authbridge::config::RelationMode;
use authbridge::db::migrate::Setup;
use authbridge::db::url;
use authbridge::db::{Db, PoolOptions, SqliteTimeFormat};
use authbridge::{AppState, Settings, app};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::harness::Need;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backend {
    Sqlite,
    /// SQLite holding dates as integer unix milliseconds (Prisma 6's native engine).
    SqliteUnixMs,
    Postgres,
    /// TEST_POSTGRES_URL's server through PgBouncer in transaction mode, with `pgbouncer=true`
    /// (see `servers::PgBouncer`).
    PgBouncer,
    /// MySQL / MariaDB, through `TEST_MYSQL_URL`.
    Mysql,
}

/// The backends a backend test runs on (`tests!(async on BACKENDS: ...)`).
pub const BACKENDS: [Backend; 4] = [Backend::Sqlite, Backend::Postgres, Backend::PgBouncer, Backend::Mysql];

/// A backend with the session cache on, its TTL 60 s so that a stale answer would show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cached(pub Backend);

/// Each kind of database once with the session cache on (the cache refuses PgBouncer).
pub const CACHED: [Cached; 3] = [Cached(Backend::Sqlite), Cached(Backend::Postgres), Cached(Backend::Mysql)];

/// What a test that runs with and without the cache is given: [`TestApp::spawn_on`] builds it.
#[derive(Debug, Clone, Copy)]
pub struct On {
    pub backend: Backend,
    pub cached: bool,
}

impl From<Backend> for On {
    fn from(backend: Backend) -> Self {
        On { backend, cached: false }
    }
}

impl From<Cached> for On {
    fn from(Cached(backend): Cached) -> Self {
        On { backend, cached: true }
    }
}

/// Each kind of database once, not through PgBouncer: for the tests of the real binary and of its
/// logs, which do not depend on how the pool reaches PostgreSQL.
pub const DATABASES: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];

impl Backend {
    pub fn is_sqlite(self) -> bool {
        matches!(self, Backend::Sqlite | Backend::SqliteUnixMs)
    }

    /// The last part of a backend test's name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::SqliteUnixMs => "sqlite_unixepoch_ms",
            Backend::Postgres => "postgres",
            Backend::PgBouncer => "pgbouncer",
            Backend::Mysql => "mysql",
        }
    }

    /// The name a contract fixture's `backends` gives it (Prisma's provider).
    pub fn provider(self) -> &'static str {
        match self {
            Backend::Sqlite | Backend::SqliteUnixMs => "sqlite",
            Backend::Postgres | Backend::PgBouncer => "postgresql",
            Backend::Mysql => "mysql",
        }
    }

    /// What the backend needs that a machine may lack.
    pub fn needs(self) -> &'static [Need] {
        match self {
            Backend::Sqlite | Backend::SqliteUnixMs => &[],
            Backend::Postgres => &[Need::Postgres],
            Backend::PgBouncer => &[Need::Postgres, Need::PgBouncer],
            Backend::Mysql => &[Need::Mysql],
        }
    }
}

/// What a test database is created from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// authbridge's migrations: Prisma's default schema, with cascading foreign keys.
    Migrations,
    /// Prisma's `relationMode = "prisma"` DDL of `prisma/relation-mode-prisma/`: no foreign keys,
    /// so authbridge enforces the relations itself.
    WithoutForeignKeys,
}

/// The DDL of Prisma's `relationMode = "prisma"` schema for the backend (PostgreSQL and SQLite:
/// Prisma's own output; MySQL: reconstructed).
pub fn no_foreign_keys_ddl(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres | Backend::PgBouncer => include_str!("../../prisma/relation-mode-prisma/postgresql.sql"),
        Backend::Mysql => include_str!("../../prisma/relation-mode-prisma/mysql.reconstructed.sql"),
        Backend::Sqlite | Backend::SqliteUnixMs => include_str!("../../prisma/relation-mode-prisma/sqlite.sql"),
    }
}

/// `sql` written with double-quoted identifiers, as `backend` reads it: MySQL quotes them with
/// backticks (double quotes are string literals there).
pub fn quoted(backend: Backend, sql: &str) -> String {
    if backend == Backend::Mysql { sql.replace('"', "`") } else { sql.to_owned() }
}

/// TEST_POSTGRES_URL, for a test that declares the backend (or `Need::Postgres`). Each test
/// creates its own database next to the one it names.
pub fn postgres_admin_url() -> String {
    Need::Postgres.get().to_owned()
}

/// TEST_MYSQL_URL, likewise.
pub fn mysql_admin_url() -> String {
    Need::Mysql.get().to_owned()
}

/// Runs statements on a MySQL admin connection.
pub async fn mysql_admin(admin_url: &str, sql: &str) {
    use diesel_async::{AsyncConnection, AsyncMysqlConnection, SimpleAsyncConnection};
    let mut conn = AsyncMysqlConnection::establish(admin_url).await.expect("connect to TEST_MYSQL_URL");
    conn.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A scratch database that is removed when dropped.
pub enum Scratch {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// `url` reaches the database: directly, or through PgBouncer.
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
    Mysql {
        admin_url: String,
        name: String,
    },
}

impl Scratch {
    /// Creates an empty database; returns it with the URL that reaches it.
    pub async fn create(backend: Backend) -> (Self, String) {
        match backend {
            Backend::Sqlite | Backend::SqliteUnixMs => {
                let scratch = Scratch::Sqlite(tempfile::tempdir().expect("temp dir"));
                let url = scratch.url();
                (scratch, url)
            }
            Backend::Postgres | Backend::PgBouncer => {
                let admin_url = postgres_admin_url();
                let bouncer = match backend {
                    Backend::PgBouncer => Some(crate::servers::PgBouncer::shared()),
                    _ => None,
                };
                let name = unique_name();
                pg_admin(&admin_url, &format!("CREATE DATABASE \"{name}\"")).await;
                let url = match bouncer {
                    Some(bouncer) => bouncer.url(&admin_url, &name),
                    None => with_database(&admin_url, &name),
                };
                let scratch = Scratch::Postgres { admin_url, name, url: url.clone() };
                (scratch, url)
            }
            Backend::Mysql => {
                let admin_url = mysql_admin_url();
                let name = unique_name();
                // The server's defaults may differ; Prisma's tables say utf8mb4 themselves.
                mysql_admin(
                    &admin_url,
                    &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
                )
                .await;
                let scratch = Scratch::Mysql { admin_url, name };
                let url = scratch.url();
                (scratch, url)
            }
        }
    }
}

impl Scratch {
    /// The URL that reaches this database.
    pub fn url(&self) -> String {
        match self {
            Scratch::Sqlite(dir) => format!("file:{}", dir.path().join("test.db").display()),
            Scratch::Postgres { url, .. } => url.clone(),
            Scratch::Mysql { admin_url, name } => with_database(admin_url, name),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (admin_url, name, mysql) = match self {
            Scratch::Sqlite(_) => return,
            Scratch::Postgres { admin_url, name, .. } => (admin_url.clone(), name.clone(), false),
            Scratch::Mysql { admin_url, name } => (admin_url.clone(), name.clone(), true),
        };
        // Drop runs inside the test's runtime; a fresh thread with its own runtime may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            if mysql {
                rt.block_on(mysql_admin(&admin_url, &format!("DROP DATABASE IF EXISTS `{name}`")));
            } else {
                rt.block_on(pg_admin(&admin_url, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")));
            }
        })
        .join();
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("ab_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), rand_suffix())
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{nanos:x}")
}

/// The admin URL with its database name replaced.
pub fn with_database(admin_url: &str, name: &str) -> String {
    let mut parsed = ::url::Url::parse(admin_url).expect("TEST_POSTGRES_URL / TEST_MYSQL_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// Runs one statement on the admin connection.
pub async fn pg_admin(admin_url: &str, sql: &str) {
    let (client, connection) =
        tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await.expect("connect to TEST_POSTGRES_URL");
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
}

pub fn pool_options() -> PoolOptions {
    PoolOptions {
        max_size: 8,
        wait_timeout: std::time::Duration::from_secs(10),
        sqlite_busy_timeout: std::time::Duration::from_secs(10),
    }
}

/// A pool for `url`; no connection is opened and nothing is migrated yet.
pub fn new_db(url: &str, options: &PoolOptions) -> Db {
    let (target, _) = url::parse(Some(url)).expect("test URL parses");
    Db::new(target, options, Default::default()).expect("pool")
}

/// A migrated database of the backend, ready to serve.
pub async fn ready_db(url: &str) -> Db {
    ready_db_with(url, &pool_options(), None).await
}

pub async fn ready_db_with(url: &str, options: &PoolOptions, sqlite_format: Option<SqliteTimeFormat>) -> Db {
    let (target, _) = url::parse(Some(url)).expect("test URL parses");
    let setup = Setup { sqlite_format, ..Setup::default() };
    Db::connect(target, options, setup).await.expect("prepare database").0
}

/// The real router in-process on a fresh database; requests go through its [`Client`].
pub struct TestApp {
    pub client: Client,
    pub state: AppState,
    pub db: Db,
    pub backend: Backend,
    _scratch: Scratch,
}

/// What the router answered.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    /// The body, which must be JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("header is text"))
    }
}

/// Sends requests through the router in-process: the one way the tests make HTTP requests
/// without a socket. Cheap to clone into the tasks of a race.
#[derive(Clone)]
pub struct Client {
    pub router: Router,
    /// Sent as `Authorization: Bearer <key>` by every request that has no authorization.
    api_key: Option<String>,
}

impl Client {
    /// This client, sending `key` with every request.
    pub fn with_key(&self, key: &str) -> Client {
        Client { router: self.router.clone(), api_key: Some(key.to_owned()) }
    }

    pub async fn send(&self, mut request: Request<Body>) -> TestResponse {
        if let Some(key) = &self.api_key
            && !request.headers().contains_key("authorization")
        {
            request.headers_mut().insert("authorization", format!("Bearer {key}").parse().expect("a header value"));
        }
        // A request over a socket waits for the network at least once. In process, a request that
        // never waits (a SQLite read on the request's thread, src/db/sqlite.rs) would let a loop
        // of calls hold its runtime thread forever, and the test's own timers with it.
        tokio::task::yield_now().await;
        let response = self.router.clone().oneshot(request).await.expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        TestResponse { status, headers, text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body") }
    }

    /// A request without a body.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).expect("request")).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Request::delete(path).body(Body::empty()).expect("request")).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).expect("JSON")))
            .expect("request");
        self.send(request).await
    }

    /// Calls an adapter method and returns the response.
    pub async fn call(&self, method: &str, body: Value) -> TestResponse {
        self.post(&format!("/v1/adapter/{method}"), &body).await
    }

    /// Calls an adapter method that must succeed and returns its JSON.
    pub async fn ok(&self, method: &str, body: Value) -> Value {
        let response = self.call(method, body).await;
        assert_eq!(response.status, StatusCode::OK, "{method}: {}", response.text);
        response.json()
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, email: &str) -> String {
        let user = self.ok("createUser", serde_json::json!({ "user": { "email": email } })).await;
        user["id"].as_str().expect("id").to_owned()
    }
}

impl std::ops::Deref for TestApp {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::with_settings(backend, Settings::default()).await
    }

    /// An app on `on.backend`, with the session cache on (and in use) when `on.cached`.
    pub async fn spawn_on(on: impl Into<On>) -> Self {
        let On { backend, cached } = on.into();
        if cached { Self::with_cache(backend, Settings::default()).await } else { Self::spawn(backend).await }
    }

    /// `settings` with the session cache on (TTL 60 s); answers once the cache is in use (on
    /// PostgreSQL: once its listener is up).
    pub async fn with_cache(backend: Backend, mut settings: Settings) -> Self {
        settings.session_cache_ttl = CACHE_TTL;
        let app = Self::with_settings(backend, settings).await;
        wait_until_cache_active(&app.state, true).await;
        app
    }

    /// Another instance on this app's database, with `settings` (waited for like `with_cache`).
    pub async fn instance(&self, settings: Settings) -> (Client, AppState) {
        let state = AppState::new(self.db.clone(), settings);
        if state.session_cache().is_some() {
            wait_until_cache_active(&state, true).await;
        }
        (Client { router: app(state.clone()), api_key: None }, state)
    }

    pub async fn with_settings(backend: Backend, settings: Settings) -> Self {
        Self::with_schema(backend, Schema::Migrations, settings).await
    }

    pub async fn with_schema(backend: Backend, schema: Schema, settings: Settings) -> Self {
        Self::with_at_rest(backend, schema, settings, AtRest::default()).await
    }

    /// An app that stores session tokens and OAuth tokens as `at_rest` says.
    pub async fn with_at_rest(backend: Backend, schema: Schema, settings: Settings, at_rest: AtRest) -> Self {
        let (scratch, url) = Scratch::create(backend).await;
        let format = (backend == Backend::SqliteUnixMs).then_some(SqliteTimeFormat::UnixEpochMs);
        if schema == Schema::WithoutForeignKeys {
            execute(&new_db(&url, &pool_options()), no_foreign_keys_ddl(backend)).await;
        }
        let mut db = ready_db_with(&url, &pool_options(), format).await;
        db.set_at_rest(at_rest);
        let expected = match schema {
            Schema::Migrations => RelationMode::ForeignKeys,
            Schema::WithoutForeignKeys => RelationMode::Prisma,
        };
        assert_eq!(db.relation_mode(), expected, "{schema:?} on {backend:?}: the relation mode start-up detects");
        Self::over(db, settings, backend, scratch)
    }

    /// An app over a database the test prepared itself.
    pub fn over(db: Db, settings: Settings, backend: Backend, scratch: Scratch) -> Self {
        let state = AppState::new(db.clone(), settings);
        let client = Client { router: app(state.clone()), api_key: None };
        Self { client, state, db, backend, _scratch: scratch }
    }

    /// A client of another app on the same database, storing secrets as `at_rest` says (what an
    /// instance restarted with other options would be).
    pub fn client_with(&self, at_rest: AtRest) -> Client {
        let mut db = self.db.clone();
        db.set_at_rest(at_rest);
        Client { router: app(AppState::new(db, Settings::default())), api_key: None }
    }

    /// The URL of the test's database (for running the binary against it).
    pub fn db_url(&self) -> String {
        self._scratch.url()
    }
}

/// The TTL of the cache-on tests: long enough that any stale answer would be served.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a test waits for something asynchronous (a notification, a reconnection) before it
/// fails: a bound on a wait, not a measurement.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// Waits until `condition` holds; panics with `what` after [`PATIENCE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Waits until the session cache of `state` is in use (`true`) or bypassed (`false`).
pub async fn wait_until_cache_active(state: &AppState, active: bool) {
    let cache = state.session_cache().expect("the session cache is on");
    wait_until(&format!("the session cache is {}", if active { "in use" } else { "bypassed" }), || {
        cache.is_active() == active
    })
    .await;
}

/// Pooled connections taken out of the pool and held until dropped, whatever the backend.
pub enum Held {
    #[allow(dead_code)]
    Postgres(Vec<diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection>>),
    #[allow(dead_code)]
    Mysql(Vec<diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncMysqlConnection>>),
    #[allow(dead_code)]
    Sqlite(Vec<diesel_async::pooled_connection::deadpool::Object<authbridge::db::SqliteConn>>),
}

/// Takes `n` connections out of the pool (waiting as the pool does).
pub async fn hold_connections(db: &Db, n: usize) -> Result<Held, String> {
    macro_rules! take {
        ($pool:expr) => {{
            let mut held = Vec::new();
            for _ in 0..n {
                held.push($pool.get().await.map_err(|e| e.to_string())?);
            }
            held
        }};
    }
    Ok(match db.pool() {
        authbridge::db::Pool::Postgres(pool) => Held::Postgres(take!(pool)),
        authbridge::db::Pool::Mysql(pool) => Held::Mysql(take!(pool)),
        authbridge::db::Pool::Sqlite(pool) => Held::Sqlite(take!(pool)),
    })
}

/// Runs raw SQL (several statements) on the test database.
pub async fn execute(db: &Db, sql: &str) {
    use diesel_async::SimpleAsyncConnection;
    let result = authbridge::with_conn!(db, conn => conn.batch_execute(sql).await);
    result.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// The first column of every row, as text (the query must alias it `value`).
pub async fn texts(db: &Db, sql: &str) -> Vec<String> {
    use diesel_async::RunQueryDsl;
    let rows: Vec<TextRow> = authbridge::with_conn!(db, conn => diesel::sql_query(sql).load(conn).await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(|r| r.value).collect()
}

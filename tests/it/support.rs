//! `TestApp`: the real router in-process on a fresh database of the chosen backend.

use std::sync::atomic::{AtomicU64, Ordering};

use authbridge::config::RelationMode;
use authbridge::db::migrate::{self, Migrate};
use authbridge::db::url;
use authbridge::db::{Db, PoolOptions, SqliteTimeFormat};
use authbridge::{AppState, Settings, app};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Backend {
    pub fn is_sqlite(self) -> bool {
        matches!(self, Backend::Sqlite | Backend::SqliteUnixMs)
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

/// Generates one test per backend for each named `async fn(Backend)`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pgbouncer() {
                    super::$name($crate::support::Backend::PgBouncer).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    super::$name($crate::support::Backend::Mysql).await
                }
            }
        )*
    };
}
pub(crate) use backend_tests;

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server URL in `var`, or `None` to skip that backend (only outside CI: with CI=true a
/// missing URL fails the test). Each test creates its own database next to the one it names.
fn admin_url(var: &str, backend: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if ci() => panic!("CI=true but {var} is not set: the {backend} tests must run"),
        _ => {
            eprintln!("skipping {backend}: {var} is not set");
            None
        }
    }
}

pub fn postgres_admin_url() -> Option<String> {
    admin_url("TEST_POSTGRES_URL", "PostgreSQL")
}

pub fn mysql_admin_url() -> Option<String> {
    admin_url("TEST_MYSQL_URL", "MySQL")
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
    pub async fn create(backend: Backend) -> Option<(Self, String)> {
        match backend {
            Backend::Sqlite | Backend::SqliteUnixMs => {
                let scratch = Scratch::Sqlite(tempfile::tempdir().expect("temp dir"));
                let url = scratch.url();
                Some((scratch, url))
            }
            Backend::Postgres | Backend::PgBouncer => {
                let admin_url = postgres_admin_url()?;
                let bouncer = match backend {
                    Backend::PgBouncer => Some(crate::servers::PgBouncer::shared()?),
                    _ => None,
                };
                let name = unique_name();
                pg_admin(&admin_url, &format!("CREATE DATABASE \"{name}\"")).await;
                let url = match bouncer {
                    Some(bouncer) => bouncer.url(&admin_url, &name),
                    None => with_database(&admin_url, &name),
                };
                let scratch = Scratch::Postgres { admin_url, name, url: url.clone() };
                Some((scratch, url))
            }
            Backend::Mysql => {
                let admin_url = mysql_admin_url()?;
                let name = unique_name();
                // The server's defaults may differ; Prisma's tables say utf8mb4 themselves.
                mysql_admin(
                    &admin_url,
                    &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
                )
                .await;
                let scratch = Scratch::Mysql { admin_url, name };
                let url = scratch.url();
                Some((scratch, url))
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
    let mut db = new_db(url, options);
    migrate::prepare(&mut db, Migrate::IfEmpty, sqlite_format).await.expect("prepare database");
    db
}

pub struct TestApp {
    pub router: Router,
    pub db: Db,
    pub backend: Backend,
    _scratch: Scratch,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("header is text"))
    }
}

impl TestApp {
    /// `None` when the backend is not configured here (never under CI).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::with_settings(backend, Settings::default()).await
    }

    pub async fn with_settings(backend: Backend, settings: Settings) -> Option<Self> {
        Self::with_schema(backend, Schema::Migrations, settings).await
    }

    pub async fn with_schema(backend: Backend, schema: Schema, settings: Settings) -> Option<Self> {
        let (scratch, url) = Scratch::create(backend).await?;
        let format = (backend == Backend::SqliteUnixMs).then_some(SqliteTimeFormat::UnixEpochMs);
        if schema == Schema::WithoutForeignKeys {
            execute(&new_db(&url, &pool_options()), no_foreign_keys_ddl(backend)).await;
        }
        let db = ready_db_with(&url, &pool_options(), format).await;
        let expected = match schema {
            Schema::Migrations => RelationMode::ForeignKeys,
            Schema::WithoutForeignKeys => RelationMode::Prisma,
        };
        assert_eq!(db.relation_mode(), expected, "{schema:?} on {backend:?}: the relation mode start-up detects");
        Some(Self::over(db, settings, backend, scratch))
    }

    /// An app over a database the test prepared itself.
    pub fn over(db: Db, settings: Settings, backend: Backend, scratch: Scratch) -> Self {
        let router = app(AppState::new(db.clone(), settings));
        Self { router, db, backend, _scratch: scratch }
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        TestResponse { status, headers, text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body") }
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).expect("JSON")))
            .expect("request");
        self.send(request).await
    }

    /// The URL of the test's database (for running the binary against it).
    pub fn db_url(&self) -> String {
        self._scratch.url()
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

//! The real authbridge binary on SQLite and PostgreSQL, and what the tests need around it.
//!
//! - `AUTHBRIDGE_BIN`: the binary (default `<repo>/target/release/authbridge`).
//! - `TEST_POSTGRES_URL`: a PostgreSQL server the tests may create scratch databases on
//!   (`ab_test_rs_*`, dropped afterwards).
//! - `CI=true`: a missing binary or `TEST_POSTGRES_URL` fails instead of being reported ignored.
//!
//! Tests of a [`Suite`] run once per backend, named `<backend>::<module>::<test>`, each with a
//! [`Ctx`]: the backend, the server the backend's tests share, and the keys. The counts per
//! backend are printed at the end.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use libtest_mimic::{Arguments, Failed, Trial};
use rand::RngExt as _;
use serde_json::{Value, json};

/// False while the server knows only plain keys (each has every scope); true once it has named,
/// scoped keys (`<name> <scopes> <key>` lines, issue 20): then every key carries only its role's
/// scope and `each_key_can_do_only_its_part` expects 403s.
pub const SCOPED_KEYS: bool = true;

const BACKENDS: [&str; 2] = ["sqlite", "postgres"];
const DATABASE_PREFIX: &str = "ab_test_rs_";

pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// A module's tests: name and body.
pub type Suite = &'static [(&'static str, fn(Ctx) -> TestFuture)];

/// `tests![a, b]`: the suite of the async functions `a` and `b`, each taking a [`Ctx`].
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        pub const TESTS: $crate::harness::Suite = &[
            $((stringify!($name), |ctx| Box::pin($name(ctx)))),*
        ];
    };
}
pub(crate) use tests;

/// Tests that need no server.
pub type LocalSuite = &'static [(&'static str, fn() -> TestFuture)];

/// `local_tests![a, b]`: the suite of the async functions `a` and `b`, which take nothing.
macro_rules! local_tests {
    ($($name:ident),* $(,)?) => {
        pub const LOCAL_TESTS: $crate::harness::LocalSuite = &[
            $((stringify!($name), || Box::pin($name()))),*
        ];
    };
}
pub(crate) use local_tests;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// Now, truncated to milliseconds as authbridge stores dates.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now is a valid date")
}

pub fn wire_date(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// --- API keys: the one place that decides how the suite's keys are configured ---------------

/// One key per role, each with only the scopes its role needs (with [`SCOPED_KEYS`]).
pub struct Keys {
    pub adapter: String,
    pub reader: String,
    pub manager: String,
    pub maintenance: String,
}

impl Keys {
    fn new() -> Self {
        Self {
            adapter: format!("adapter-{}", random_hex(16)),
            reader: format!("reader-{}", random_hex(16)),
            manager: format!("manager-{}", random_hex(16)),
            maintenance: format!("maintenance-{}", random_hex(16)),
        }
    }

    /// The `--api-key-file` contents for these keys (API.md: scopes `adapter`, `session:read`,
    /// `sessions:manage`, `maintenance`).
    fn key_file(&self) -> String {
        let roles = [
            ("adapter", "adapter", &self.adapter),
            ("reader", "session:read", &self.reader),
            ("manager", "sessions:manage", &self.manager),
            ("maintenance", "maintenance", &self.maintenance),
        ];
        roles
            .iter()
            .map(
                |(role, scopes, key)| if SCOPED_KEYS { format!("{role} {scopes} {key}\n") } else { format!("{key}\n") },
            )
            .collect()
    }
}

// --- the binary -----------------------------------------------------------------------------

fn binary() -> PathBuf {
    match std::env::var_os("AUTHBRIDGE_BIN").filter(|value| !value.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/authbridge"),
    }
}

/// `authbridge serve` on a free loopback port, with its log kept for assertions.
pub struct Server {
    pub url: String,
    pub database_url: String,
    process: Mutex<Child>,
    log: Arc<Mutex<String>>,
    _workdir: tempfile::TempDir,
}

impl Server {
    fn start(database_url: String, keys: &Keys, args: &[&str]) -> Self {
        let workdir = tempfile::tempdir().expect("a temporary directory");
        let key_file = workdir.path().join("keys");
        std::fs::write(&key_file, keys.key_file()).expect("the key file is written");
        let mut command = Command::new(binary());
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("AUTHBRIDGE_") || name_text == "DATABASE_URL" || name_text == "RUST_LOG" {
                command.env_remove(&name);
            }
        }
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json", "--api-key-file"])
            .arg(&key_file)
            .args(args)
            .env("DATABASE_URL", &database_url)
            .current_dir(workdir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary().display()));
        let log = Arc::new(Mutex::new(String::new()));
        let (started, address) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let record: Value = serde_json::from_str(&line).unwrap_or_default();
                if record["message"] == "authbridge listening" {
                    let _ = started.send(record["address"].as_str().unwrap_or_default().to_owned());
                }
                let mut log = lines.lock().expect("the log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let Ok(address) = address.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("authbridge did not start:\n{}", log.lock().expect("the log lock"));
        };
        Self { url: format!("http://{address}"), database_url, process: Mutex::new(child), log, _workdir: workdir }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("the log lock").clone()
    }

    /// Whether `text` appears in the log within five seconds (a thread reads the log).
    pub async fn logged(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(text) {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    pub fn stop(&self) {
        let mut child = self.process.lock().expect("the process lock");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

// --- backends -------------------------------------------------------------------------------

/// Makes empty databases on one backend and can make one unreachable.
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, databases: Mutex<Vec<String>> },
}

/// A database made unreachable by [`Backend::outage`]; [`Outage::end`] makes it answer again.
pub enum Outage {
    Sqlite(rusqlite::Connection),
    Postgres { admin_url: String, database: String },
}

async fn admin(admin_url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await.expect("TEST_POSTGRES_URL accepts connections");
    tokio::spawn(connection);
    client
}

impl Backend {
    async fn new_database(&self) -> String {
        match self {
            Self::Sqlite(directory) => format!("file:{}/{}.db", directory.path().display(), random_hex(4)),
            Self::Postgres { admin_url, databases } => {
                let name = format!("{DATABASE_PREFIX}{}_{}", std::process::id(), random_hex(4));
                admin(admin_url)
                    .await
                    .batch_execute(&format!(r#"CREATE DATABASE "{name}""#))
                    .await
                    .expect("CREATE DATABASE");
                databases.lock().expect("the databases lock").push(name.clone());
                let mut url = reqwest::Url::parse(admin_url).expect("TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                url.to_string()
            }
        }
    }

    /// From now until [`Outage::end`], queries on `database_url` fail as if the database were
    /// down.
    pub async fn outage(&self, database_url: &str) -> Outage {
        match self {
            Self::Sqlite(_) => {
                // An embedded database cannot be stopped. The nearest thing: another process
                // holds the write lock beyond the server's busy timeout, and SQLite answers
                // "database is locked", which authbridge turns into 503 `unavailable`. In WAL
                // mode reads do not wait for that lock, so the outage tests run the server with
                // `--session-update-age 0`: every session read then slides the expiry, a write.
                let path = database_url.trim_start_matches("file:");
                let holder = rusqlite::Connection::open(path).expect("the SQLite database opens");
                holder.execute_batch("BEGIN IMMEDIATE").expect("the write lock is taken");
                Outage::Sqlite(holder)
            }
            Self::Postgres { admin_url, .. } => {
                // The shared server stays up: only this scratch database refuses connections,
                // and the server's open ones are terminated (as a restart of the database would).
                let database =
                    reqwest::Url::parse(database_url).expect("a URL").path().trim_start_matches('/').to_owned();
                let admin = admin(admin_url).await;
                admin
                    .batch_execute(&format!(r#"ALTER DATABASE "{database}" ALLOW_CONNECTIONS false"#))
                    .await
                    .expect("ALTER DATABASE");
                admin
                    .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", &[&database])
                    .await
                    .expect("pg_terminate_backend");
                Outage::Postgres { admin_url: admin_url.clone(), database }
            }
        }
    }

    async fn close(&self) {
        if let Self::Postgres { admin_url, databases } = self {
            let admin = admin(admin_url).await;
            let names: Vec<String> = databases.lock().expect("the databases lock").drain(..).collect();
            for name in names {
                let _ = admin.batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await;
            }
        }
    }
}

impl Outage {
    pub async fn end(self) {
        match self {
            Self::Sqlite(holder) => holder.execute_batch("ROLLBACK").expect("the write lock is released"),
            Self::Postgres { admin_url, database } => admin(&admin_url)
                .await
                .batch_execute(&format!(r#"ALTER DATABASE "{database}" ALLOW_CONNECTIONS true"#))
                .await
                .expect("ALTER DATABASE"),
        }
    }
}

// --- what a test gets ------------------------------------------------------------------------

/// One backend's setup, shared by its tests.
struct Setup {
    backend: Backend,
    keys: Keys,
    server: Server,
    /// Servers tests started for themselves, stopped at the end.
    own_servers: Mutex<Vec<Arc<Server>>>,
}

#[derive(Clone)]
pub struct Ctx {
    setup: Arc<Setup>,
}

impl Ctx {
    pub fn backend(&self) -> &Backend {
        &self.setup.backend
    }

    pub fn keys(&self) -> &Keys {
        &self.setup.keys
    }

    /// The server most tests share, one per backend.
    pub fn server(&self) -> &Server {
        &self.setup.server
    }

    pub fn adapter(&self) -> Adapter {
        Adapter::new(self.server(), self.keys())
    }

    /// A server of this test's own on a fresh database, with extra `serve` arguments.
    pub async fn start_server(&self, args: &[&str]) -> Arc<Server> {
        let database_url = self.backend().new_database().await;
        let server = Arc::new(Server::start(database_url, self.keys(), args));
        self.setup.own_servers.lock().expect("the servers lock").push(Arc::clone(&server));
        server
    }
}

// --- the adapter RPC, for setting up users and sessions as Auth.js core would ---------------

/// `POST /v1/adapter/{method}` with the adapter key.
pub struct Adapter {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Adapter {
    pub fn new(server: &Server, keys: &Keys) -> Self {
        // The test server speaks plain HTTP; reqwest still wants a TLS setup, and this crate's
        // reqwest has no crypto provider of its own (the client gives it ring per client).
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let http = reqwest::Client::builder().tls_backend_preconfigured(tls).build().expect("a reqwest client");
        Self { http, url: server.url.clone(), key: keys.adapter.clone() }
    }

    pub async fn call(&self, method: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/v1/adapter/{method}", self.url))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .expect("the adapter RPC answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert_eq!(status, 200, "{method}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// A user with a random email and the given fields.
    pub async fn create_user(&self, fields: Value) -> Value {
        let mut user = json!({ "email": format!("{}@example.com", random_hex(6)) });
        user.as_object_mut().expect("an object").extend(fields.as_object().cloned().unwrap_or_default());
        self.call("createUser", json!({ "user": user })).await
    }

    /// A session of `user` expiring at `expires`, with a random token.
    pub async fn create_session_until(&self, user: &Value, expires: DateTime<Utc>) -> Value {
        let session = json!({ "userId": user["id"], "expires": wire_date(expires), "sessionToken": random_hex(32) });
        self.call("createSession", json!({ "session": session })).await
    }

    /// A new user with a session expiring in 29 days, and the session's token.
    pub async fn signed_in(&self) -> (Value, String) {
        let user = self.create_user(json!({})).await;
        let token = text(&self.create_session(&user).await, "sessionToken").to_owned();
        (user, token)
    }

    /// A session of `user` expiring in 29 days.
    pub async fn create_session(&self, user: &Value) -> Value {
        self.create_session_until(user, now() + TimeDelta::days(29)).await
    }
}

/// A JSON string member as `&str`.
pub fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or_else(|| panic!("`{key}` is not a string in {value}"))
}

// --- running -----------------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
}

/// Why `backend` cannot run here, if it cannot.
fn missing(backend: &str) -> Option<String> {
    let binary = binary();
    if !binary.is_file() {
        return Some(format!(
            "no authbridge binary at {} (cargo build --release, or set AUTHBRIDGE_BIN)",
            binary.display()
        ));
    }
    if backend == "postgres" && std::env::var("TEST_POSTGRES_URL").unwrap_or_default().is_empty() {
        return Some("TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/postgres)".to_owned());
    }
    None
}

async fn set_up(backend: &str) -> Setup {
    let backend = match backend {
        "sqlite" => Backend::Sqlite(tempfile::tempdir().expect("a temporary directory")),
        _ => Backend::Postgres {
            admin_url: std::env::var("TEST_POSTGRES_URL").expect("checked by missing()"),
            databases: Mutex::new(Vec::new()),
        },
    };
    let keys = Keys::new();
    let server = Server::start(backend.new_database().await, &keys, &[]);
    Setup { backend, keys, server, own_servers: Mutex::new(Vec::new()) }
}

type Counts = Arc<Mutex<BTreeMap<String, BTreeMap<&'static str, usize>>>>;

fn count(counts: &Counts, group: &str, outcome: &'static str) {
    *counts.lock().expect("the counts lock").entry(group.to_owned()).or_default().entry(outcome).or_default() += 1;
}

/// Runs `suites` once per backend and `local` (tests without a server) once.
pub fn main(suites: &[(&'static str, Suite)], local: &[(&'static str, LocalSuite)]) -> ExitCode {
    let args = Arguments::from_args();
    let counts: Counts = Arc::default();
    let setup_runtime = runtime();
    let mut setups = Vec::new();
    let mut trials = Vec::new();
    for backend in BACKENDS {
        let why = missing(backend);
        let setup = match &why {
            Some(_) => None,
            None if args.list => None,
            None => Some(Arc::new(setup_runtime.block_on(set_up(backend)))),
        };
        setups.extend(setup.clone());
        for (module, suite) in suites {
            for &(name, test) in suite.iter() {
                let (setup, reason, counts) = (setup.clone(), why.clone(), Arc::clone(&counts));
                let trial = Trial::test(format!("{backend}::{module}::{name}"), move || {
                    let outcome = match (setup, reason) {
                        (Some(setup), _) => run(test(Ctx { setup })),
                        (None, why) => Err(Failed::from(format!("CI=true: {}", why.unwrap_or_default()))),
                    };
                    count(&counts, backend, if outcome.is_ok() { "passed" } else { "failed" });
                    outcome
                });
                // Outside CI a backend that cannot run is reported as ignored, not as passed.
                trials.push(trial.with_ignored_flag(why.is_some() && !in_ci()));
            }
        }
    }
    for (module, suite) in local {
        for &(name, test) in suite.iter() {
            let counts = Arc::clone(&counts);
            trials.push(Trial::test(format!("{module}::{name}"), move || {
                let outcome = run(test());
                count(&counts, "no server", if outcome.is_ok() { "passed" } else { "failed" });
                outcome
            }));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    for setup in &setups {
        setup.server.stop();
        for server in setup.own_servers.lock().expect("the servers lock").iter() {
            server.stop();
        }
        setup_runtime.block_on(setup.backend.close());
    }
    let counts = counts.lock().expect("the counts lock");
    if !counts.is_empty() {
        eprintln!("tests per backend (ignored ones are not run, see the line above):");
        for (group, outcomes) in counts.iter() {
            let line: Vec<String> = outcomes.iter().map(|(outcome, n)| format!("{n} {outcome}")).collect();
            eprintln!("  {group}: {}", line.join(", "));
        }
    }
    conclusion.exit_code()
}

/// Runs one test in a runtime of its own; a panic is its failure.
fn run(test: TestFuture) -> Result<(), Failed> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime().block_on(test)));
    result.map_err(|panic| Failed::from(panic_text(&panic)))
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "the test panicked".to_owned())
}

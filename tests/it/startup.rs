//! Getting a database ready: schema ownership, verification, SQLite date formats, URLs as Prisma
//! users write them, and what happens when the database is busy or gone.

use std::time::{Duration, Instant};

use authbridge::Settings;
use authbridge::db::migrate::{self, Migrate};
use authbridge::db::{Db, PoolOptions, SqliteTimeFormat};
use axum::http::StatusCode;
use serde_json::json;

use crate::binary::command;
use crate::support::{BACKENDS, Backend, Scratch, TestApp, execute, new_db, pool_options, quoted, ready_db, texts};

crate::harness::tests! {
    async on BACKENDS:
        prisma_managed_database_is_verified_never_migrated,
        schema_problems_stop_start_up_with_a_readable_diff,
        pool_exhaustion_answers_503_quickly,
        readyz_checks_the_database;
    async on [Backend::Sqlite]:
        sqlite_dates_are_stored_as_prisma_7_stores_them,
        sqlite_integer_millisecond_rows_are_detected_read_and_written_alike,
        sqlite_mixed_or_contradicting_date_formats_are_refused;
    async on [Backend::Postgres]: postgres_urls_with_prisma_parameters_connect;
    async on [Backend::PgBouncer]: schema_holds_behind_pgbouncer;
    async: an_unreachable_database_is_503_not_a_hang;
    sync: bad_configuration_exits_2_with_one_clear_line, connection_limit_is_the_pool_size_unless_one_is_configured;
}

/// What `prisma migrate deploy` leaves: the Auth.js tables and `_prisma_migrations`.
async fn prisma_deployed(backend: Backend) -> (Scratch, String, Db) {
    let (scratch, url) = Scratch::create(backend).await;
    let db = new_db(&url, &pool_options());
    let ddl = match backend {
        Backend::Postgres | Backend::PgBouncer => include_str!("../../migrations/postgres/00000000000000_init/up.sql"),
        Backend::Sqlite | Backend::SqliteUnixMs => include_str!("../../migrations/sqlite/00000000000000_init/up.sql"),
        Backend::Mysql => include_str!("../../migrations/mysql/00000000000000_init/up.sql"),
    };
    execute(&db, ddl).await;
    execute(&db, &quoted(backend, r#"CREATE TABLE "_prisma_migrations" ("id" VARCHAR(36) PRIMARY KEY NOT NULL, "migration_name" VARCHAR(255) NOT NULL)"#)).await;
    (scratch, url, db)
}

async fn tables(db: &Db, backend: Backend) -> Vec<String> {
    let sql = match backend {
        Backend::Postgres | Backend::PgBouncer => {
            "SELECT table_name::text AS value FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        }
        Backend::Sqlite | Backend::SqliteUnixMs => {
            "SELECT name AS value FROM sqlite_master WHERE type = 'table' ORDER BY 1"
        }
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) AS value FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"
        }
    };
    texts(db, sql).await
}

async fn prisma_managed_database_is_verified_never_migrated(backend: Backend) {
    let (_scratch, _url, mut db) = prisma_deployed(backend).await;
    let prepared = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.expect("a Prisma schema is accepted");
    assert!(prepared.prisma_managed);
    assert_eq!(prepared.applied_migrations, 0);
    assert!(!tables(&db, backend).await.iter().any(|t| t == "__diesel_schema_migrations"), "nothing was migrated");

    let err = migrate::prepare(&mut db, Migrate::Always, None).await.expect_err("`authbridge migrate` refuses");
    assert!(err.to_string().contains("managed by Prisma"), "{err}");

    // A team's own nullable or defaulted columns are fine.
    execute(&db, &quoted(backend, r#"ALTER TABLE "users" ADD COLUMN "role" TEXT; ALTER TABLE "users" ADD COLUMN "plan" VARCHAR(20) NOT NULL DEFAULT 'free'"#)).await;
    migrate::prepare(&mut db, Migrate::IfEmpty, None).await.expect("extra nullable/defaulted columns are accepted");
}

async fn schema_problems_stop_start_up_with_a_readable_diff(backend: Backend) {
    let (_scratch, _url, mut db) = prisma_deployed(backend).await;
    execute(&db, &quoted(backend, r#"ALTER TABLE "users" ADD COLUMN "tenant" TEXT NOT NULL"#)).await;
    execute(&db, &quoted(backend, r#"ALTER TABLE "accounts" DROP COLUMN "session_state""#)).await;
    execute(&db, &quoted(backend, r#"DROP TABLE "authenticators""#)).await;
    execute(
        &db,
        &quoted(
            backend,
            r#"DROP TABLE "verification_tokens";
           CREATE TABLE "verification_tokens" ("identifier" TEXT NOT NULL, "token" TEXT NOT NULL, "expires" TEXT NOT NULL)"#,
        ),
    )
    .await;
    let err = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.expect_err("must refuse").to_string();
    for expected in [
        "missing table `authenticators`",
        "missing column `accounts`.`session_state`",
        "extra column `users`.`tenant` is NOT NULL without a default",
        "column `verification_tokens`.`expires` has type",
    ] {
        assert!(err.contains(expected), "{expected:?} not in:\n{err}");
    }
    let app = TestApp::over(db, Settings::default(), backend, Scratch::create(Backend::Sqlite).await.0);
    let response = app.get("/readyz").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "/readyz reports the broken schema");
    assert!(response.json()["detail"].as_str().unwrap().contains("missing table `authenticators`"));

    let (_scratch, _url, mut empty) = prisma_deployed(backend).await;
    for table in ["authenticators", "verification_tokens", "accounts", "sessions", "users"] {
        execute(&empty, &quoted(backend, &format!(r#"DROP TABLE "{table}""#))).await;
    }
    let err = migrate::prepare(&mut empty, Migrate::IfEmpty, None).await.expect_err("Prisma DB without the tables");
    assert!(err.to_string().contains("Prisma manages this database"), "{err}");
}

async fn pool_exhaustion_answers_503_quickly(backend: Backend) {
    let (scratch, url) = Scratch::create(backend).await;
    // Migrated through a normal pool: the wait timeout below is also the connect timeout, and a
    // loaded machine can take longer than that to open the first connection.
    drop(ready_db(&url).await);
    let options = PoolOptions { max_size: 1, wait_timeout: Duration::from_millis(1_000), ..pool_options() };
    let db = new_db(&url, &options);
    let app = TestApp::over(db.clone(), Settings::default(), backend, scratch);
    let mut attempts = 0;
    let held = loop {
        attempts += 1;
        let taken = crate::support::hold_connections(&db, 1).await;
        match taken {
            Ok(held) => break held,
            Err(e) if attempts < 5 => eprintln!("taking the only connection failed ({e}); retrying"),
            Err(e) => panic!("cannot take the only connection: {e}"),
        }
    };
    let started = Instant::now();
    let response = app.call("getUser", json!({ "id": "x" })).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "{}", response.text);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.json()["code"], "unavailable");
    assert!(started.elapsed() < Duration::from_secs(3), "answered within the pool wait timeout");
    drop(held);
    assert_eq!(app.call("getUser", json!({ "id": "x" })).await.status, StatusCode::OK, "serves again");
}

async fn readyz_checks_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
    let health = app.get("/healthz").await;
    assert_eq!(health.json(), json!({ "status": "ok" }));
}

async fn an_unreachable_database_is_503_not_a_hang() {
    let options = PoolOptions { wait_timeout: Duration::from_millis(500), ..pool_options() };
    let db = new_db("postgresql://postgres@127.0.0.1:9/nowhere", &options);
    let scratch = Scratch::create(Backend::Sqlite).await.0;
    let app = TestApp::over(db, Settings::default(), Backend::Postgres, scratch);
    let started = Instant::now();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let call = app.call("getSessionAndUser", json!({ "sessionToken": "t" })).await;
    assert_eq!(call.status, StatusCode::SERVICE_UNAVAILABLE, "{}", call.text);
    assert_eq!(call.header("retry-after"), Some("1"));
    assert!(started.elapsed() < Duration::from_secs(5));
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "liveness does not depend on the database");
}

async fn sqlite_dates_are_stored_as_prisma_7_stores_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.ok("createUser", json!({ "user": { "emailVerified": "2026-01-02T04:04:05.678+01:00" } })).await;
    app.ok(
        "createSession",
        json!({ "session": { "sessionToken": "t", "userId": user["id"], "expires": "2030-01-01T00:00:00.1Z" } }),
    )
    .await;
    let stored =
        texts(&app.db, r#"SELECT typeof("emailVerified") || ' ' || "emailVerified" AS value FROM users"#).await;
    assert_eq!(stored, ["text 2026-01-02T03:04:05.678+00:00"]);
    let stored = texts(&app.db, "SELECT typeof(expires) || ' ' || expires AS value FROM sessions").await;
    assert_eq!(stored, ["text 2030-01-01T00:00:00.100+00:00"]);
}

/// Prisma 6's native engine (and the adapters' `unixepoch-ms`) store integer milliseconds.
async fn sqlite_integer_millisecond_rows_are_detected_read_and_written_alike(backend: Backend) {
    let (scratch, url) = Scratch::create(backend).await;
    let seed = ready_db(&url).await;
    let in_a_year = chrono::Utc::now().timestamp_millis() + 365 * 86_400_000;
    execute(
        &seed,
        &format!(
            r#"INSERT INTO users (id, email, "emailVerified") VALUES ('u1', 'a@example.com', 1767323045678);
               INSERT INTO sessions (id, "sessionToken", "userId", expires) VALUES ('s1', 'live', 'u1', {in_a_year});
               INSERT INTO sessions (id, "sessionToken", "userId", expires) VALUES ('s2', 'old', 'u1', 1000);"#
        ),
    )
    .await;
    drop(seed);

    let mut db = new_db(&url, &pool_options());
    let prepared = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.unwrap();
    assert_eq!(prepared.sqlite_format, Some(SqliteTimeFormat::UnixEpochMs));
    let app = TestApp::over(db, Settings::default(), backend, scratch);

    let found = app.ok("getSessionAndUser", json!({ "sessionToken": "live", "slide": false })).await;
    assert_eq!(found["user"]["emailVerified"], "2026-01-02T03:04:05.678Z");
    let expected =
        chrono::DateTime::from_timestamp_millis(in_a_year).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    assert_eq!(found["session"]["expires"], expected);
    assert_eq!(
        app.ok("getSessionAndUser", json!({ "sessionToken": "old" })).await,
        json!(null),
        "expired integer rows compare correctly"
    );

    app.ok(
        "createSession",
        json!({ "session": { "sessionToken": "new", "userId": "u1", "expires": "2030-01-01T00:00:00.123Z" } }),
    )
    .await;
    app.ok("getSessionAndUser", json!({ "sessionToken": "live", "maxAge": 86400 * 400, "updateAge": 0 })).await;
    let stored =
        texts(&app.db, r#"SELECT "sessionToken" || ' ' || typeof(expires) AS value FROM sessions ORDER BY 1"#).await;
    assert_eq!(stored, ["live integer", "new integer", "old integer"], "every write keeps the database's format");
    assert_eq!(
        texts(&app.db, "SELECT CAST(expires AS TEXT) AS value FROM sessions WHERE id <> 's1' AND id <> 's2'").await,
        ["1893456000123"]
    );
}

async fn sqlite_mixed_or_contradicting_date_formats_are_refused(backend: Backend) {
    let (_scratch, url) = Scratch::create(backend).await;
    let seed = ready_db(&url).await;
    execute(
        &seed,
        "INSERT INTO users (id) VALUES ('u1'); INSERT INTO sessions (id, \"sessionToken\", \"userId\", expires) VALUES ('s1', 't1', 'u1', 1893456000123);",
    )
    .await;

    let mut forced = new_db(&url, &pool_options());
    let err = migrate::prepare(&mut forced, Migrate::IfEmpty, Some(SqliteTimeFormat::Iso8601)).await.unwrap_err();
    assert!(err.to_string().contains("existing rows use unixepoch-ms"), "{err}");

    execute(
        &seed,
        "INSERT INTO sessions (id, \"sessionToken\", \"userId\", expires) VALUES ('s2', 't2', 'u1', '2030-01-01T00:00:00.000+00:00');",
    )
    .await;
    let mut mixed = new_db(&url, &pool_options());
    let err = migrate::prepare(&mut mixed, Migrate::IfEmpty, None).await.unwrap_err();
    assert!(err.to_string().contains("both as text and as integer"), "{err}");
}

async fn postgres_urls_with_prisma_parameters_connect(backend: Backend) {
    let (_scratch, url) = Scratch::create(backend).await;
    let prisma_url = format!(
        "{url}?schema=public&connection_limit=3&pool_timeout=5&pgbouncer=true&sslmode=disable&socket_timeout=10&connect_timeout=5"
    );
    let db = ready_db(&prisma_url).await;
    let scratch = Scratch::create(Backend::Sqlite).await.0;
    let app = TestApp::over(db, Settings::default(), backend, scratch);
    let user = app.ok("createUser", json!({ "user": { "email": "a@example.com" } })).await;
    assert_eq!(app.ok("getUser", json!({ "id": user["id"] })).await, user);
}

/// `?schema=` behind PgBouncer in transaction mode, which refuses the `options` start-up
/// parameter and keeps no session state: the tables are made in, and every unit of work reads,
/// the named schema, also when concurrent requests move between PgBouncer's server connections.
async fn schema_holds_behind_pgbouncer(backend: Backend) {
    let (scratch, url) = Scratch::create(backend).await;
    let Scratch::Postgres { admin_url, name, .. } = &scratch else { unreachable!("a PostgreSQL scratch") };
    let direct = crate::support::with_database(admin_url, name);
    let db = ready_db(&format!("{url}&schema=auth")).await;
    let app = TestApp::over(db, Settings::default(), backend, scratch);
    let calls = (0..3 * crate::servers::PGBOUNCER_POOL_SIZE).map(|i| {
        let client = app.client.clone();
        tokio::spawn(async move {
            client.call("createUser", json!({ "user": { "email": format!("u{i}@example.com") } })).await.status
        })
    });
    for status in futures::future::join_all(calls).await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let settings = "SELECT current_schema() || ' ' || current_setting('TimeZone') AS value";
    let reads = (0..2 * crate::servers::PGBOUNCER_POOL_SIZE).map(|_| texts(&app.db, settings));
    for read in futures::future::join_all(reads).await {
        assert_eq!(read, ["auth UTC"], "search_path and the session time zone hold in every unit of work");
    }
    // Seen directly, without PgBouncer: the tables and rows are in schema auth, none in public.
    let (client, connection) = tokio_postgres::connect(&direct, tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(connection);
    let schemas: Vec<String> = client
        .query("SELECT DISTINCT table_schema::text FROM information_schema.tables WHERE table_name = 'users'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(schemas, ["auth"]);
    let users: i64 = client.query_one("SELECT COUNT(*) FROM auth.users", &[]).await.unwrap().get(0);
    assert_eq!(users, 3 * crate::servers::PGBOUNCER_POOL_SIZE as i64);
    drop(client);
    let _ = task.await;
}

/// Configuration errors: one line on stderr and exit code 2, before anything starts.
fn bad_configuration_exits_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = command(args);
        command.current_dir(dir.path());
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 9] = [
        (&["--bind", "0.0.0.0:7799"], &[], "without an API key"),
        (&[], &[("DATABASE_URL", "mongodb://u:hunter2@db/x")], "scheme \"mongodb\" is not supported"),
        (&["--api-key-file", "/nonexistent/keys"], &[], "cannot read --api-key-file"),
        (&["--session-update-age", "10", "--session-max-age", "5"], &[], "must not be greater"),
        (&[], &[("DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:9/x?sslmode=verify-full")], "need sslrootcert"),
        (
            &[],
            &[(
                "DATABASE_URL",
                "postgresql://u:hunter2@127.0.0.1:9/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            )],
            "cannot read the CA file /nonexistent/ca.pem",
        ),
        (&[], &[("DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:9/x?connection_limit=0")], "connection_limit"),
        (&[], &[("DATABASE_URL", "mysql://u:hunter2@127.0.0.1:9/x?sslaccept=strict&sslmode=REQUIRED")], "disagree"),
        (&["check-schema"], &[("DATABASE_URL", "file:./dev.db")], "file:./prisma/dev.db"),
    ];
    // Prisma 6's native engine put `file:./dev.db` next to the schema: never start a second database.
    std::fs::create_dir(dir.path().join("prisma")).unwrap();
    std::fs::write(dir.path().join("prisma/dev.db"), b"").unwrap();
    for (args, env, message) in cases {
        let output = run(args, env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "the password never appears: {stderr}");
    }
    assert!(!dir.path().join("authbridge.db").exists(), "nothing was created");
    assert!(!dir.path().join("dev.db").exists(), "no second SQLite database was created");
}

/// Prisma's `connection_limit` sizes the pool unless --pool-size / AUTHBRIDGE_POOL_SIZE is given.
fn connection_limit_is_the_pool_size_unless_one_is_configured() {
    use clap::Parser;
    let parse = |args: &[&str]| authbridge::config::Cli::try_parse_from(args).expect("arguments parse").config;
    let limit =
        authbridge::db::url::parse_url(Some("postgresql://db/app?connection_limit=3")).unwrap().connection_limit;
    assert_eq!(limit, Some(3));
    if std::env::var_os("AUTHBRIDGE_POOL_SIZE").is_none() {
        assert_eq!(parse(&["authbridge"]).pool_options(limit, false).max_size, 3);
        assert_eq!(parse(&["authbridge"]).pool_options(None, false).max_size, authbridge::config::DEFAULT_POOL_SIZE);
        assert_eq!(
            parse(&["authbridge"]).pool_options(None, true).max_size,
            authbridge::config::DEFAULT_SQLITE_POOL_SIZE
        );
    }
    assert_eq!(parse(&["authbridge", "--pool-size", "7"]).pool_options(limit, true).max_size, 7);
}

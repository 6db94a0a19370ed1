//! What only MySQL / MariaDB needs proving: the reconstructed Prisma catalog, DATETIME(3), the
//! session time zone, strict mode, the schema check on MySQL types, and Prisma's URL parameters.

use authbridge::Settings;
use authbridge::db::migrate::{self, Migrate};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::json;

use crate::support::{Backend, Scratch, TestApp, execute, new_db, pool_options, ready_db, texts};

crate::harness::tests! {
    async on [Backend::Mysql]:
        migrations_build_prismas_mysql_catalog,
        datetime_3_round_trips_milliseconds,
        connections_run_in_utc_and_strict_mode_whatever_the_server_default,
        strict_mode_refuses_what_would_be_truncated,
        the_schema_check_reads_mysql_types,
        mysql_urls_with_prisma_parameters_connect;
    sync: mysql_migrations_follow_the_folder_rule_and_say_what_they_are;
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// A connection of its own, outside authbridge's pool, with the session settings a test picks.
async fn raw(url: &str, setup: &str) -> AsyncMysqlConnection {
    let mut conn = AsyncMysqlConnection::establish(url).await.expect("connect");
    conn.batch_execute(setup).await.expect("session setup");
    conn
}

async fn one(conn: &mut AsyncMysqlConnection, sql: &str) -> String {
    let rows: Vec<TextRow> = diesel::sql_query(sql).load(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().next().expect("a row").value
}

/// The migrations build Prisma's MySQL catalog: VARCHAR(191) / TEXT / DATETIME(3) / BOOLEAN, the
/// index names Prisma gives (the FK index renamed to `sessions_userId_idx`), cascading foreign
/// keys and the utf8mb4_unicode_ci tables.
async fn migrations_build_prismas_mysql_catalog(backend: Backend) {
    let (_scratch, url) = Scratch::create(backend).await;
    let db = ready_db(&url).await;
    let columns = texts(
        &db,
        "SELECT CAST(CONCAT(table_name, '.', column_name, ' ', column_type, IF(is_nullable = 'YES', ' NULL', ' NOT NULL')) AS CHAR) AS value \
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name <> '__diesel_schema_migrations' ORDER BY 1",
    )
    .await;
    for expected in [
        "users.id varchar(191) NOT NULL",
        "users.email varchar(191) NULL",
        "users.emailVerified datetime(3) NULL",
        "sessions.expires datetime(3) NOT NULL",
        "sessions.createdAt datetime(3) NULL",
        "sessions.ipAddress varchar(191) NULL",
        "sessions.updatedAt datetime(3) NULL",
        "sessions.userAgent varchar(191) NULL",
        "sessions.previousSessionToken varchar(191) NULL",
        "sessions.rotatedAt datetime(3) NULL",
        "accounts.access_token text NULL",
        "accounts.refresh_token text NULL",
        "accounts.id_token text NULL",
        "accounts.scope varchar(191) NULL",
        "accounts.expires_at int(11) NULL",
        "authenticators.credentialPublicKey text NOT NULL",
        "authenticators.credentialBackedUp tinyint(1) NOT NULL",
        "authenticators.counter int(11) NOT NULL",
    ] {
        // MySQL 8 prints `int` where MariaDB prints `int(11)`.
        let alternative = expected.replace("int(11)", "int");
        assert!(columns.iter().any(|c| c == expected || *c == alternative), "{expected} not in {columns:#?}");
    }
    assert_eq!(columns.len(), 38, "{columns:#?}");
    let indexes = texts(
        &db,
        "SELECT CAST(CONCAT(table_name, '.', index_name, '(', GROUP_CONCAT(column_name ORDER BY seq_in_index), ')', \
         IF(non_unique = 0, ' unique', '')) AS CHAR) AS value FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name <> '__diesel_schema_migrations' \
         GROUP BY table_name, index_name, non_unique ORDER BY 1",
    )
    .await;
    assert_eq!(
        indexes,
        [
            "accounts.accounts_provider_providerAccountId_key(provider,providerAccountId) unique",
            "accounts.accounts_userId_fkey(userId)",
            "accounts.PRIMARY(id) unique",
            "authenticators.authenticators_credentialID_key(credentialID) unique",
            "authenticators.PRIMARY(userId,credentialID) unique",
            "sessions.PRIMARY(id) unique",
            "sessions.sessions_expires_idx(expires)",
            "sessions.sessions_previousSessionToken_key(previousSessionToken) unique",
            "sessions.sessions_sessionToken_key(sessionToken) unique",
            "sessions.sessions_userId_idx(userId)",
            "users.PRIMARY(id) unique",
            "users.users_email_key(email) unique",
            "verification_tokens.verification_tokens_identifier_token_key(identifier,token) unique",
        ]
    );
    let foreign_keys = texts(
        &db,
        "SELECT CAST(CONCAT(constraint_name, ' ', update_rule, ' ', delete_rule) AS CHAR) AS value \
         FROM information_schema.referential_constraints WHERE constraint_schema = DATABASE() ORDER BY 1",
    )
    .await;
    assert_eq!(
        foreign_keys,
        [
            "accounts_userId_fkey CASCADE CASCADE",
            "authenticators_userId_fkey CASCADE CASCADE",
            "sessions_userId_fkey CASCADE CASCADE"
        ]
    );
    let collations = texts(
        &db,
        "SELECT DISTINCT CAST(table_collation AS CHAR) AS value FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name <> '__diesel_schema_migrations'",
    )
    .await;
    assert_eq!(collations, ["utf8mb4_unicode_ci"]);
}

/// DATETIME(3) keeps milliseconds; finer input is truncated (never rounded) on the way in, and
/// what is returned equals what is stored.
async fn datetime_3_round_trips_milliseconds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.ok("createUser", json!({ "user": { "emailVerified": "2026-01-02T03:04:05.678999+01:00" } })).await;
    assert_eq!(user["emailVerified"], "2026-01-02T02:04:05.678Z");
    let session = app
        .ok("createSession", json!({ "session": { "userId": user["id"], "expires": "2099-12-31T23:59:59.9999Z" } }))
        .await;
    assert_eq!(session["expires"], "2099-12-31T23:59:59.999Z");
    let stored = texts(&app.db, "SELECT CAST(expires AS CHAR) AS value FROM sessions").await;
    assert_eq!(stored, ["2099-12-31 23:59:59.999"]);
    let verified = texts(&app.db, "SELECT CAST(emailVerified AS CHAR) AS value FROM users").await;
    assert_eq!(verified, ["2026-01-02 02:04:05.678"]);
    let read = app.ok("getSessionAndUser", json!({ "sessionToken": session["sessionToken"], "slide": false })).await;
    assert_eq!(read["session"], session);
    assert_eq!(read["user"], user);
}

/// authbridge's connections run in UTC whatever the server or another client's session says:
/// DATETIME holds UTC wall time as Prisma writes it, and a client in another time zone sees
/// the same wall time. (The server's global time zone is shared with other tests, so it is not
/// changed here; a session time zone shows the same effect.)
async fn connections_run_in_utc_and_strict_mode_whatever_the_server_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.db_url();
    let session_settings =
        texts(&app.db, "SELECT CAST(CONCAT(@@session.time_zone, ' ', @@session.sql_mode) AS CHAR) AS value").await;
    assert!(session_settings[0].starts_with("+00:00 "), "{session_settings:?}");
    assert!(session_settings[0].contains("STRICT_ALL_TABLES"), "{session_settings:?}");
    // TIMESTAMP values convert with the session time zone: the pool's connections say UTC.
    assert_eq!(texts(&app.db, "SELECT CAST(FROM_UNIXTIME(0) AS CHAR) AS value").await, ["1970-01-01 00:00:00"]);

    let user = app.user("tz@example.com").await;
    let session =
        app.ok("createSession", json!({ "session": { "userId": user, "expires": "2030-06-01T12:00:00.000Z" } })).await;
    let mut tokyo = raw(&url, "SET time_zone = '+09:00', sql_mode = ''").await;
    assert_eq!(one(&mut tokyo, "SELECT CAST(FROM_UNIXTIME(0) AS CHAR) AS value").await, "1970-01-01 09:00:00");
    assert_eq!(one(&mut tokyo, "SELECT CAST(expires AS CHAR) AS value FROM sessions").await, "2030-06-01 12:00:00.000");
    // A row another client writes in UTC wall time (as Prisma does) reads back unchanged.
    tokyo
        .batch_execute(&format!(
            "INSERT INTO sessions (id, sessionToken, userId, expires) VALUES ('s-tokyo', 'tok-tokyo', '{user}', '2031-01-01 00:00:00.250')"
        ))
        .await
        .unwrap();
    let read = app.ok("getSessionAndUser", json!({ "sessionToken": "tok-tokyo", "slide": false })).await;
    assert_eq!(read["session"]["expires"], "2031-01-01T00:00:00.250Z");
    // Expiry is decided by the time authbridge binds, not by the server's NOW().
    tokyo
        .batch_execute("UPDATE sessions SET expires = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id = 's-tokyo'")
        .await
        .unwrap();
    assert!(app.ok("getSessionAndUser", json!({ "sessionToken": "tok-tokyo" })).await.is_null());
    assert!(!app.ok("getSessionAndUser", json!({ "sessionToken": session["sessionToken"] })).await.is_null());
}

/// Strict mode is a second line behind the length check: a value that reached the database too
/// long would be an error, never a silent truncation.
async fn strict_mode_refuses_what_would_be_truncated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let result = authbridge::with_conn!(app.db, conn =>
        conn.batch_execute(&format!("INSERT INTO users (id, name) VALUES ('u', '{}')", "n".repeat(192))).await);
    let err = result.expect_err("strict mode refuses the over-long name");
    assert!(err.to_string().contains("Data too long"), "{err}");
    assert!(texts(&app.db, "SELECT id AS value FROM users").await.is_empty(), "nothing was stored");
}

/// What `prisma db push` / `migrate deploy` leave on MySQL is accepted; a column whose type
/// would lose data (DATETIME without milliseconds, an INT where Prisma has a Boolean) is
/// reported by name and start-up stops.
async fn the_schema_check_reads_mysql_types(backend: Backend) {
    let (scratch, url) = Scratch::create(backend).await;
    let mut db = new_db(&url, &pool_options());
    execute(&db, include_str!("../../migrations/mysql/00000000000000_init/up.sql")).await;
    execute(&db, "CREATE TABLE `_prisma_migrations` (`id` VARCHAR(36) PRIMARY KEY NOT NULL)").await;
    let prepared = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.expect("Prisma's MySQL schema is accepted");
    assert!(prepared.prisma_managed);

    execute(
        &db,
        "ALTER TABLE sessions MODIFY expires DATETIME NOT NULL; \
         ALTER TABLE authenticators MODIFY credentialBackedUp INT NOT NULL; \
         ALTER TABLE users MODIFY name VARCHAR(50) NULL",
    )
    .await;
    let err = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.expect_err("must refuse").to_string();
    for expected in [
        "column `sessions`.`expires` has type datetime(0)",
        "column `authenticators`.`credentialBackedUp` has type int",
    ] {
        assert!(err.contains(expected), "{expected:?} not in:\n{err}");
    }
    assert!(!err.contains("`users`.`name`"), "a narrower VARCHAR is still text: {err}");

    // The narrowed column's own limit applies: a team's @db.VarChar(50) is honoured.
    execute(&db, "ALTER TABLE sessions MODIFY expires DATETIME(3) NOT NULL; ALTER TABLE authenticators MODIFY credentialBackedUp BOOLEAN NOT NULL").await;
    migrate::prepare(&mut db, Migrate::IfEmpty, None).await.expect("repaired");
    let app = TestApp::over(db, Settings::default(), backend, scratch);
    let response = app.call("createUser", json!({ "user": { "name": "n".repeat(51) } })).await;
    assert_eq!(response.status, axum::http::StatusCode::BAD_REQUEST, "{}", response.text);
    assert_eq!(response.json()["field"], "user.name");
    assert!(response.json()["detail"].as_str().unwrap().contains("at most 50 characters"), "{}", response.text);
    app.ok("createUser", json!({ "user": { "name": "n".repeat(50) } })).await;

    // Narrowed again behind authbridge's back: strict mode still turns it into a 400, not a
    // truncation and not a 500.
    execute(&app.db, "ALTER TABLE users MODIFY image VARCHAR(10) NULL").await;
    let response = app.call("createUser", json!({ "user": { "image": "i".repeat(20) } })).await;
    assert_eq!(response.status, axum::http::StatusCode::BAD_REQUEST, "{}", response.text);
    assert_eq!(response.json()["code"], "invalid_argument");
    assert_eq!(texts(&app.db, "SELECT CAST(COUNT(*) AS CHAR) AS value FROM users").await, ["1"]);
}

/// `DATABASE_URL` as a Prisma MySQL user writes it: Prisma's pool and socket parameters are
/// dropped, `connection_limit` sizes the pool, and `mariadb://` works too.
async fn mysql_urls_with_prisma_parameters_connect(backend: Backend) {
    let (_scratch, url) = Scratch::create(backend).await;
    let prisma_url =
        format!("{url}?connection_limit=3&connect_timeout=5&pool_timeout=5&socket_timeout=10&sslmode=disabled");
    let parsed = authbridge::db::url::parse_url(Some(&prisma_url)).unwrap();
    assert_eq!(parsed.connection_limit, Some(3));
    assert_eq!(parsed.dropped, ["connect_timeout", "pool_timeout", "socket_timeout"]);
    let db = ready_db(&prisma_url).await;
    let mariadb_url = prisma_url.replacen("mysql://", "mariadb://", 1);
    let twin = ready_db(&mariadb_url).await;
    let app = TestApp::over(db, Settings::default(), backend, Scratch::create(Backend::Sqlite).await.0);
    let user = app.ok("createUser", json!({ "user": { "email": "a@example.com" } })).await;
    let other = TestApp::over(twin, Settings::default(), backend, Scratch::create(Backend::Sqlite).await.0);
    assert_eq!(other.ok("getUser", json!({ "id": user["id"] })).await, user, "both URLs reach one database");
}

/// No Prisma engine renders MySQL offline, so the MySQL migrations cannot be compared with
/// `prisma migrate diff` as the others are (catalog.rs). What can be checked without it: the
/// folder chain ends at `prisma/schema.mysql.prisma`, every `up.sql` says it is a
/// reconstruction, and the MySQL schema is the PostgreSQL one with only the provider and the
/// `@db.Text` columns changed.
fn mysql_migrations_follow_the_folder_rule_and_say_what_they_are() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read =
        |relative: &str| std::fs::read_to_string(root.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    let mut dirs: Vec<String> = std::fs::read_dir(root.join("migrations/mysql"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    let postgres_dirs: Vec<String> = {
        let mut d: Vec<String> = std::fs::read_dir(root.join("migrations/postgres"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        d.sort();
        d
    };
    assert_eq!(dirs, postgres_dirs, "the same migrations as PostgreSQL");
    for dir in &dirs {
        let up = read(&format!("migrations/mysql/{dir}/up.sql"));
        assert!(up.starts_with("-- NOT PRISMA OUTPUT."), "{dir}/up.sql must say it is a reconstruction");
        assert!(up.contains("prisma@6.19.3 migrate diff"), "{dir}/up.sql says how to regenerate it");
        assert!(!read(&format!("migrations/mysql/{dir}/down.sql")).is_empty());
        // Each folder's schema is the PostgreSQL folder's with the MySQL differences.
        let mysql = read(&format!("migrations/mysql/{dir}/schema.prisma"));
        let postgres = read(&format!("migrations/postgres/{dir}/schema.prisma"));
        let expected = postgres
            .replace(r#"provider = "postgresql""#, r#"provider = "mysql""#)
            .replace("  refresh_token     String?\n", "  refresh_token     String? @db.Text\n")
            .replace("  access_token      String?\n", "  access_token      String? @db.Text\n")
            .replace("  id_token          String?\n", "  id_token          String? @db.Text\n")
            .replace("  credentialPublicKey  String\n", "  credentialPublicKey  String  @db.Text\n");
        assert_eq!(mysql, expected, "migrations/mysql/{dir}/schema.prisma");
    }
    let last = dirs.last().expect("a migration");
    assert_eq!(read(&format!("migrations/mysql/{last}/schema.prisma")), read("prisma/schema.mysql.prisma"));
}

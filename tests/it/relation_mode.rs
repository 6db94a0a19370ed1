//! Databases without foreign keys (Prisma's `relationMode = "prisma"`): how the mode is settled,
//! the schema check's report, and the race between a user delete and rows being created for that
//! user. The contract fixtures run on these schemas too (contract.rs).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authbridge::Settings;
use authbridge::config::RelationMode;
use authbridge::db::Db;
use authbridge::db::check;
use authbridge::db::migrate::{self, Migrate};
use authbridge::db::relations::RELATIONS;
use serde_json::{Value, json};

use crate::binary::{Server, command};
use crate::harness::runtime;
use crate::support::{
    BACKENDS, Backend, Client, Schema, Scratch, TestApp, execute, new_db, no_foreign_keys_ddl, pool_options, quoted,
    texts,
};

crate::harness::tests! {
    sync on RACES: delete_create_race;
    sync on [Backend::Postgres]: postgres_without_foreign_keys_defaulting_to_repeatable_read;
    async on BACKENDS:
        auto_settles_on_prisma_where_one_cascading_foreign_key_is_missing,
        prisma_mode_on_a_database_with_foreign_keys_is_redundant_but_correct,
        foreign_keys_mode_without_foreign_keys_stops_start_up,
        the_catalog_check_finds_foreign_keys_and_indexes,
        writes_run_the_documented_statements;
    async on [Backend::Sqlite]: the_command_line_reports_the_relation_mode;
    async on [Backend::Mysql]: mysql_no_foreign_key_ddl_builds_the_migrations_catalog_without_foreign_keys;
    sync: the_no_foreign_key_schemas_are_the_projects_with_relation_mode_prisma;
}

/// Every migration's `up.sql` of the backend, in order: the schema `authbridge migrate` creates.
fn migrations_ddl(backend: Backend) -> String {
    let folder = match backend {
        Backend::Postgres | Backend::PgBouncer => "postgres",
        Backend::Mysql => "mysql",
        Backend::Sqlite | Backend::SqliteUnixMs => "sqlite",
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs.iter().map(|dir| std::fs::read_to_string(dir.join("up.sql")).unwrap()).collect::<Vec<_>>().join("\n")
}

/// A scratch database made from `ddl`, not migrated, nothing checked yet.
async fn database_from(backend: Backend, ddl: &str) -> (Scratch, String, Db) {
    let (scratch, url) = Scratch::create(backend).await;
    let db = new_db(&url, &pool_options());
    execute(&db, ddl).await;
    (scratch, url, db)
}

/// The user's rows left in each relation's table, and every row whose user does not exist.
async fn leftovers(db: &Db, backend: Backend, user_id: &str) -> Vec<String> {
    let mut found = Vec::new();
    for relation in RELATIONS {
        let (table, column) = (relation.table, relation.column);
        let sql = quoted(
            backend,
            &format!(
                r#"SELECT CONCAT('{table} of a missing user: ', t."{column}") AS value FROM "{table}" t
                   LEFT JOIN "users" u ON u."id" = t."{column}" WHERE u."id" IS NULL"#
            ),
        );
        // SQLite has no CONCAT before 3.44.
        let sql = if backend.is_sqlite() { sql.replace("CONCAT('", "('").replace("', t.", "' || t.") } else { sql };
        found.extend(texts(db, &sql).await);
        let sql =
            quoted(backend, &format!(r#"SELECT "{column}" AS value FROM "{table}" WHERE "{column}" = '{user_id}'"#));
        found.extend(texts(db, &sql).await.into_iter().map(|_| format!("{table} of user {user_id}")));
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The race: a user deleted while sessions, accounts and authenticators are created for it.
// ---------------------------------------------------------------------------------------------

/// Rounds on PostgreSQL and MySQL. Each round is one user, eight writers and one delete.
const ROUNDS: usize = 30;
/// Rounds on SQLite, whose writers take turns on one lock anyway; a round takes seconds there
/// (the delete waits in the busy handler while the writers keep taking the lock).
const SQLITE_ROUNDS: usize = 10;
/// Writers per kind of row; each creates rows for the round's user until it gets a 422.
const WRITERS_PER_KIND: usize = 2;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Session,
    Account,
    Authenticator,
    /// `updateSession` moving a fresh session of a bystander to the round's user.
    Move,
}

/// An adapter call's status and JSON answer.
async fn call(client: &Client, method: &str, body: Value) -> (u16, Value) {
    let response = client.call(method, body).await;
    (response.status.as_u16(), response.json())
}

/// What one writer did: the keys of the rows it created (or moved) with 200, and the key of the
/// row it was refused with 422 (its last call).
struct Written {
    kind: Kind,
    created: Vec<String>,
    refused: String,
}

/// Creates rows of `kind` for `user` until one is refused; counts itself in `started` at its
/// first success.
async fn writer(
    client: Client,
    kind: Kind,
    tag: String,
    user: String,
    bystander: String,
    started: Arc<AtomicUsize>,
) -> Written {
    let mut created = Vec::new();
    for n in 0.. {
        let key = format!("{tag}-{n}");
        let (status, body) = match kind {
            Kind::Session => call(
                &client,
                "createSession",
                json!({ "session": { "sessionToken": key, "userId": user, "expires": "2099-01-01T00:00:00.000Z" } }),
            )
            .await,
            Kind::Account => call(
                &client,
                "linkAccount",
                json!({ "account": { "userId": user, "type": "oauth", "provider": "race", "providerAccountId": key } }),
            )
            .await,
            Kind::Authenticator => {
                call(
                    &client,
                    "createAuthenticator",
                    json!({ "authenticator": {
                    "credentialID": key, "userId": user, "providerAccountId": key, "credentialPublicKey": "pk",
                    "counter": 0, "credentialDeviceType": "singleDevice", "credentialBackedUp": false } }),
                )
                .await
            }
            Kind::Move => {
                let (status, _) = call(&client, "createSession", json!({ "session": { "sessionToken": key, "userId": bystander, "expires": "2099-01-01T00:00:00.000Z" } })).await;
                assert_eq!(status, 200, "the bystander's session is created");
                call(&client, "updateSession", json!({ "session": { "sessionToken": key, "userId": user } })).await
            }
        };
        match status {
            200 => {
                assert_eq!(body["userId"], user, "{kind:?} {key}: written for the round's user: {body}");
                if created.is_empty() {
                    started.fetch_add(1, Ordering::SeqCst);
                }
                created.push(key);
            }
            422 => {
                assert_eq!(body["code"], "failed_precondition", "{kind:?} {key}: {body}");
                return Written { kind, created, refused: key };
            }
            other => panic!("{kind:?} {key}: {other} {body}"),
        }
    }
    unreachable!()
}

/// Many concurrent `createSession` / `linkAccount` / `createAuthenticator` / `updateSession`
/// (moving a session) for one user while `deleteUser` runs. The delete starts once every writer
/// has succeeded at least once, so it always lands among writes in flight; each writer goes on
/// until it is refused. Afterwards no row references a missing user, every row created with 200
/// is gone with the user, every refused row was never written (a refused move left the session
/// with its old user), and the delete answered the user.
fn delete_create_race((backend, schema): (Backend, Schema)) {
    runtime(4).block_on(async {
        let app = TestApp::with_schema(backend, schema, Settings::default()).await;
        race_on(app, &format!("{backend:?} {schema:?}")).await
    })
}

/// Where the race runs: every backend without foreign keys (behind a transaction pooler the
/// locking transaction is a savepoint in the unit of work), and PostgreSQL and MySQL with them,
/// where the invariants the test checks are the database's own.
const RACES: [(Backend, Schema); 6] = [
    (Backend::Postgres, Schema::WithoutForeignKeys),
    (Backend::PgBouncer, Schema::WithoutForeignKeys),
    (Backend::Mysql, Schema::WithoutForeignKeys),
    (Backend::Sqlite, Schema::WithoutForeignKeys),
    (Backend::Postgres, Schema::Migrations),
    (Backend::Mysql, Schema::Migrations),
];

/// The race on `app`, named `label` in its messages.
async fn race_on(app: TestApp, label: &str) {
    let backend = app.backend;
    let bystander = app.user("bystander@example.com").await;
    let kinds = [Kind::Session, Kind::Account, Kind::Authenticator, Kind::Move];
    let (mut created, mut refused) = (0, 0);
    let rounds = if backend.is_sqlite() { SQLITE_ROUNDS } else { ROUNDS };
    for round in 0..rounds {
        let user = app.user(&format!("round{round}@example.com")).await;
        let started = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = kinds
            .iter()
            .flat_map(|&kind| (0..WRITERS_PER_KIND).map(move |w| (kind, w)))
            .map(|(kind, w)| {
                let tag = format!("r{round}-{kind:?}-{w}");
                tokio::spawn(writer(app.client.clone(), kind, tag, user.clone(), bystander.clone(), started.clone()))
            })
            .collect();
        let all = writers.len();
        // A writer that finishes before the delete has failed (a panic on an unexpected
        // answer): stop waiting, so that joining it below reports the failure instead of hanging.
        while started.load(Ordering::SeqCst) < all && !writers.iter().any(|w| w.is_finished()) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let (status, deleted) = call(&app, "deleteUser", json!({ "userId": user })).await;
        assert_eq!((status, deleted["id"].as_str()), (200, Some(user.as_str())), "round {round}: {deleted}");
        for written in futures::future::join_all(writers).await {
            let written = written.expect("writer task");
            created += written.created.len();
            refused += 1;
            if let Kind::Move = written.kind {
                // The refused move changed nothing: the session is still the bystander's.
                let (_, session) =
                    call(&app, "updateSession", json!({ "session": { "sessionToken": written.refused } })).await;
                assert_eq!(
                    session["userId"], bystander,
                    "round {round}: a refused move left the session alone: {session}"
                );
            }
        }
        let left = leftovers(&app.db, backend, &user).await;
        assert!(left.is_empty(), "{label} round {round}: rows outlived their user: {left:?}");
        assert_eq!(call(&app, "getUser", json!({ "id": user })).await.1, Value::Null);
    }
    // Each round's writers were refused once each; what they created before went with the user.
    eprintln!("{label}: {rounds} rounds, {created} rows created then deleted with their user, {refused} refused");
}

/// PostgreSQL whose sessions default to REPEATABLE READ (`default_transaction_isolation`, as some
/// teams set it): authbridge's locking transactions ask for READ COMMITTED themselves, since under
/// a snapshot taken before the lock wait a delete would miss a session committed meanwhile.
fn postgres_without_foreign_keys_defaulting_to_repeatable_read(backend: Backend) {
    use crate::support::{pg_admin, ready_db};
    runtime(4).block_on(async {
        let (scratch, url) = Scratch::create(backend).await;
        execute(&new_db(&url, &pool_options()), no_foreign_keys_ddl(backend)).await;
        let Scratch::Postgres { admin_url, name, .. } = &scratch else { unreachable!() };
        pg_admin(
            admin_url,
            &format!(r#"ALTER DATABASE "{name}" SET default_transaction_isolation = 'repeatable read'"#),
        )
        .await;
        let db = ready_db(&url).await;
        assert_eq!(texts(&db, "SELECT current_setting('transaction_isolation') AS value").await, ["repeatable read"]);
        let app = TestApp::over(db, Settings::default(), backend, scratch);
        race_on(app, "Postgres WithoutForeignKeys, default REPEATABLE READ").await
    })
}

// ---------------------------------------------------------------------------------------------
// Settling the mode.
// ---------------------------------------------------------------------------------------------

/// The migrations' schema with the `sessions` foreign key restricting deletes instead of
/// cascading them: two of three relations are the database's, one is not.
fn one_restricting_foreign_key(backend: Backend) -> String {
    let ddl = migrations_ddl(backend);
    let at = ddl.find("sessions_userId_fkey").expect("the sessions foreign key");
    let cascade = at + ddl[at..].find("ON DELETE CASCADE").expect("its ON DELETE");
    format!("{}ON DELETE RESTRICT{}", &ddl[..cascade], &ddl[cascade + "ON DELETE CASCADE".len()..])
}

/// A user with one row in each relation's table; returns its id.
async fn user_with_rows(app: &TestApp, email: &str) -> String {
    let user = app.user(email).await;
    app.ok("createSession", json!({ "session": { "userId": user, "expires": "2099-01-01T00:00:00.000Z" } })).await;
    app.ok(
        "linkAccount",
        json!({ "account": { "userId": user, "type": "oauth", "provider": "p", "providerAccountId": email } }),
    )
    .await;
    app.ok(
        "createAuthenticator",
        json!({ "authenticator": {
        "credentialID": email, "userId": user, "providerAccountId": email, "credentialPublicKey": "pk",
        "counter": 0, "credentialDeviceType": "singleDevice", "credentialBackedUp": false } }),
    )
    .await;
    user
}

/// The contract where authbridge enforces the relations: a delete takes every row along, an
/// unknown user is a 422 for every kind of row.
async fn relations_hold(app: &TestApp) {
    let user = user_with_rows(app, "held@example.com").await;
    assert_eq!(app.ok("deleteUser", json!({ "userId": user })).await["id"], user);
    let left = leftovers(&app.db, app.backend, &user).await;
    assert!(left.is_empty(), "{:?}: {left:?}", app.backend);
    for (method, body) in [
        ("createSession", json!({ "session": { "userId": user, "expires": "2099-01-01T00:00:00.000Z" } })),
        (
            "linkAccount",
            json!({ "account": { "userId": user, "type": "oauth", "provider": "p", "providerAccountId": "x" } }),
        ),
        (
            "createAuthenticator",
            json!({ "authenticator": {
            "credentialID": "x", "userId": user, "providerAccountId": "x", "credentialPublicKey": "pk",
            "counter": 0, "credentialDeviceType": "singleDevice", "credentialBackedUp": false } }),
        ),
    ] {
        let response = app.call(method, body).await;
        assert_eq!(response.status, 422, "{method}: {}", response.text);
        assert_eq!(response.json()["code"], "failed_precondition");
    }
}

async fn auto_settles_on_prisma_where_one_cascading_foreign_key_is_missing(backend: Backend) {
    let (scratch, _url, mut db) = database_from(backend, &one_restricting_foreign_key(backend)).await;
    let report = check::relations(&db).await.unwrap();
    assert_eq!(report.without_cascade, [RELATIONS[0]], "{backend:?}: only sessions lacks a cascade");
    let prepared = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.unwrap();
    assert_eq!((prepared.relation_mode, db.relation_mode()), (RelationMode::Prisma, RelationMode::Prisma));
    // Children go first, so the restricting foreign key never sees a user with sessions.
    relations_hold(&TestApp::over(db, Settings::default(), backend, scratch)).await;
}

async fn prisma_mode_on_a_database_with_foreign_keys_is_redundant_but_correct(backend: Backend) {
    let (scratch, _url, mut db) = database_from(backend, &migrations_ddl(backend)).await;
    db.set_relation_mode(RelationMode::Prisma);
    let prepared = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.unwrap();
    assert_eq!(prepared.relation_mode, RelationMode::Prisma);
    assert!(prepared.relations.without_cascade.is_empty(), "{:?}", prepared.relations);
    relations_hold(&TestApp::over(db, Settings::default(), backend, scratch)).await;
}

async fn foreign_keys_mode_without_foreign_keys_stops_start_up(backend: Backend) {
    let (_scratch, _url, mut db) = database_from(backend, no_foreign_keys_ddl(backend)).await;
    db.set_relation_mode(RelationMode::ForeignKeys);
    let error = migrate::prepare(&mut db, Migrate::IfEmpty, None).await.unwrap_err().to_string();
    for relation in RELATIONS {
        assert!(error.contains(&relation.to_string()), "{backend:?}: the error names {relation}: {error}");
    }
    assert!(error.contains("--relation-mode prisma"), "{error}");

    let (_scratch, _url, mut partial) = database_from(backend, &one_restricting_foreign_key(backend)).await;
    partial.set_relation_mode(RelationMode::ForeignKeys);
    let error = migrate::prepare(&mut partial, Migrate::IfEmpty, None).await.unwrap_err().to_string();
    assert!(error.contains("for sessions.userId -> users.id:"), "{backend:?}: only sessions is named: {error}");
}

async fn the_catalog_check_finds_foreign_keys_and_indexes(backend: Backend) {
    let (_scratch, _url, db) = database_from(backend, no_foreign_keys_ddl(backend)).await;
    let report = check::relations(&db).await.unwrap();
    assert_eq!(
        report.without_cascade, RELATIONS,
        "{backend:?}: Prisma's relationMode = \"prisma\" DDL has no foreign key"
    );
    assert!(report.without_index.is_empty(), "{backend:?}: it has an index for every relation: {report:?}");

    let drop = match backend {
        Backend::Mysql => "DROP INDEX `accounts_userId_idx` ON `accounts`",
        _ => r#"DROP INDEX "accounts_userId_idx""#,
    };
    execute(&db, drop).await;
    let report = check::relations(&db).await.unwrap();
    assert_eq!(report.without_index, [RELATIONS[1]], "{backend:?}");
    let warnings = report.warnings(RelationMode::Prisma);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`accounts`.`userId`"), "{warnings:?}");

    let (_scratch, _url, migrated) = database_from(backend, &migrations_ddl(backend)).await;
    let report = check::relations(&migrated).await.unwrap();
    assert!(report.without_cascade.is_empty(), "{backend:?}: the migrations' foreign keys cascade: {report:?}");
    // MySQL indexes every foreign key column; PostgreSQL and SQLite do not, and Prisma's default
    // schema has no index on accounts.userId. With the foreign keys in charge, that is no warning.
    let unindexed: &[_] = if backend == Backend::Mysql { &[] } else { &RELATIONS[1..2] };
    assert_eq!(report.without_index, unindexed, "{backend:?}");
    assert!(report.warnings(RelationMode::ForeignKeys).is_empty());
}

// ---------------------------------------------------------------------------------------------
// The command line.
// ---------------------------------------------------------------------------------------------

fn output_text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `check-schema` says how the relations are enforced, warns about a missing index without
/// failing, and fails for `--relation-mode foreign-keys` on a schema without foreign keys; `serve`
/// refuses to start there, and logs the mode it settled on.
async fn the_command_line_reports_the_relation_mode(backend: Backend) {
    let (_scratch, url, db) = database_from(backend, no_foreign_keys_ddl(backend)).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = command(args);
        command.current_dir(dir.path()).env("DATABASE_URL", &url);
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };

    let checked = run(&["check-schema"], &[]);
    let text = output_text(&checked);
    assert!(checked.status.success(), "{text}");
    assert!(text.contains("relations: enforced by authbridge's transactions (relation mode prisma); no cascading foreign key for sessions.userId -> users.id"), "{text}");
    assert!(!text.contains("warning"), "{text}");

    execute(&db, r#"DROP INDEX "accounts_userId_idx""#).await;
    let checked = run(&["check-schema"], &[]);
    let text = output_text(&checked);
    assert!(checked.status.success(), "a missing index is a warning, not a failure: {text}");
    assert!(text.contains("warning: no index starts with `accounts`.`userId`"), "{text}");
    assert!(text.contains("the schema has everything authbridge needs"), "{text}");

    for (args, env) in [
        (&["check-schema", "--relation-mode", "foreign-keys"][..], &[][..]),
        (&["check-schema"], &[("AUTHBRIDGE_RELATION_MODE", "foreign-keys")]),
        (&["serve", "--relation-mode", "foreign-keys"], &[]),
    ] {
        let refused = run(args, env);
        let text = output_text(&refused);
        assert_eq!(refused.status.code(), Some(1), "{args:?} {env:?}: {text}");
        assert!(
            text.contains(
                "--relation-mode foreign-keys, but the database has no foreign key with ON DELETE CASCADE for \
                           sessions.userId -> users.id, accounts.userId -> users.id, authenticators.userId -> users.id"
            ),
            "{args:?} {env:?}: {text}"
        );
    }

    let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]);
    // One request first: SIGTERM before the server has set up its handler would kill it.
    assert_eq!(server.request("GET", "/readyz", &[], "").0, 200);
    let log = server.stop();
    assert!(log.contains("relation_mode=prisma"), "start-up logs the mode it settled on:\n{log}");
    assert!(log.contains("WARN") && log.contains("no index starts with `accounts`.`userId`"), "{log}");

    let (_scratch, url, _db) = database_from(backend, &migrations_ddl(backend)).await;
    let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]);
    assert_eq!(server.request("GET", "/readyz", &[], "").0, 200);
    let log = server.stop();
    assert!(log.contains("relation_mode=foreign-keys"), "{log}");
    assert!(log.contains("relations: enforced by the database's foreign keys"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// The schema files.
// ---------------------------------------------------------------------------------------------

/// Each `prisma/relation-mode-prisma/` schema is the project's `prisma/` schema with
/// `relationMode = "prisma"` and the one index Prisma asks for that the project's schema lacks.
fn the_no_foreign_key_schemas_are_the_projects_with_relation_mode_prisma() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prisma");
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    for name in ["schema.prisma", "schema.mysql.prisma", "schema.sqlite.prisma"] {
        let base = read(name);
        let provider =
            base.lines().find(|l| l.trim_start().starts_with("provider = \"") && !l.contains("prisma-client")).unwrap();
        let expected = base
            .replacen(
                &format!("{provider}\n  url      = env(\"DATABASE_URL\")\n"),
                &format!(
                    "{}\n  url          = env(\"DATABASE_URL\")\n  relationMode = \"prisma\"\n",
                    provider.replace("provider =", "provider     =")
                ),
                1,
            )
            .replacen(
                "  @@unique([provider, providerAccountId])\n  @@map(\"accounts\")",
                "  // relationMode = \"prisma\": no foreign key indexes this column for a user delete to use.\n  \
                 @@unique([provider, providerAccountId])\n  @@index([userId])\n  @@map(\"accounts\")",
                1,
            );
        assert_ne!(expected, base, "{name}: the replacements apply");
        assert_eq!(read(&format!("relation-mode-prisma/{name}")), expected, "relation-mode-prisma/{name}");
    }
    let mysql = read("relation-mode-prisma/mysql.reconstructed.sql");
    assert!(mysql.starts_with("-- NOT PRISMA OUTPUT."), "the MySQL DDL says it is a reconstruction");
    assert!(!mysql.contains("FOREIGN KEY") && !read("relation-mode-prisma/postgresql.sql").contains("FOREIGN KEY"));
}

/// On MariaDB, the reconstructed DDL builds the migrations' catalog without the foreign keys:
/// the same columns, the same indexes except that `accounts.userId` has Prisma's
/// `accounts_userId_idx` instead of the index MySQL made for the foreign key.
async fn mysql_no_foreign_key_ddl_builds_the_migrations_catalog_without_foreign_keys(backend: Backend) {
    let (_a, _url, no_fk) = database_from(backend, no_foreign_keys_ddl(backend)).await;
    let (_b, _url, migrated) = database_from(backend, &migrations_ddl(backend)).await;
    let columns = "SELECT CAST(CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable, ' ', \
                   COALESCE(column_default, '-'), ' ', ordinal_position) AS CHAR) AS value \
                   FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY 1";
    assert_eq!(texts(&no_fk, columns).await, texts(&migrated, columns).await);
    let indexes = "SELECT CAST(CONCAT(table_name, '.', index_name, '(', GROUP_CONCAT(column_name ORDER BY seq_in_index), ')', \
                   IF(non_unique = 0, ' unique', '')) AS CHAR) AS value FROM information_schema.statistics \
                   WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique ORDER BY 1";
    let expected: Vec<String> = texts(&migrated, indexes)
        .await
        .into_iter()
        .map(|i| i.replace("accounts.accounts_userId_fkey(userId)", "accounts.accounts_userId_idx(userId)"))
        .collect();
    assert_eq!(texts(&no_fk, indexes).await, expected);
    let foreign_keys = "SELECT CAST(constraint_name AS CHAR) AS value FROM information_schema.referential_constraints \
                        WHERE constraint_schema = DATABASE()";
    assert_eq!(texts(&migrated, foreign_keys).await.len(), 3);
    assert_eq!(texts(&no_fk, foreign_keys).await, Vec::<String>::new());
    let collations = "SELECT DISTINCT CAST(table_collation AS CHAR) AS value FROM information_schema.tables \
                      WHERE table_schema = DATABASE()";
    assert_eq!(texts(&no_fk, collations).await, ["utf8mb4_unicode_ci"]);
}

// ---------------------------------------------------------------------------------------------
// What each write costs in each mode.
// ---------------------------------------------------------------------------------------------

/// A statement reduced to its kind, its table and its lock: `SELECT users FOR KEY SHARE`.
fn shape(sql: &str) -> String {
    let sql = sql.replace(['"', '`'], "");
    if sql.starts_with("BEGIN") || sql.starts_with("COMMIT") {
        return sql.trim().to_owned();
    }
    // diesel's savepoints are numbered by depth: `SAVEPOINT diesel_savepoint_1`.
    for savepoint in ["SAVEPOINT", "RELEASE SAVEPOINT"] {
        if sql.starts_with(&format!("{savepoint} ")) {
            return savepoint.to_owned();
        }
    }
    let word_after = |keyword: &str| {
        let at = sql.find(keyword).unwrap_or_else(|| panic!("{keyword} in {sql}")) + keyword.len();
        sql[at..].split([' ', '(', ';']).next().unwrap().split('.').next().unwrap().to_owned()
    };
    let mut shape = match sql.split_whitespace().next().unwrap() {
        "INSERT" => format!("INSERT {}", word_after("INSERT INTO ")),
        "UPDATE" => format!("UPDATE {}", word_after("UPDATE ")),
        "DELETE" => format!("DELETE {}", word_after("DELETE FROM ")),
        "SELECT" => format!("SELECT {}", word_after(" FROM ")),
        other => panic!("unexpected statement {other}: {sql}"),
    };
    for lock in [" FOR UPDATE", " FOR KEY SHARE", " LOCK IN SHARE MODE"] {
        if sql.contains(lock) {
            shape.push_str(lock);
        }
    }
    shape
}

/// The statements each write sends, with the foreign keys and without them. With them nothing
/// changed: one statement where the backend has `RETURNING`. Without them a write is one
/// transaction that locks the user first (docs/relation-mode.md lists these).
async fn writes_run_the_documented_statements(backend: Backend) {
    let (begin, share, exclusive) = match backend {
        Backend::Postgres | Backend::PgBouncer => {
            ("BEGIN ISOLATION LEVEL READ COMMITTED", "SELECT users FOR KEY SHARE", "SELECT users FOR UPDATE")
        }
        Backend::Mysql => ("BEGIN", "SELECT users LOCK IN SHARE MODE", "SELECT users FOR UPDATE"),
        Backend::Sqlite | Backend::SqliteUnixMs => ("BEGIN IMMEDIATE", "SELECT users", "SELECT users"),
    };
    let mysql = backend == Backend::Mysql;
    for schema in [Schema::Migrations, Schema::WithoutForeignKeys] {
        let (app, log) = crate::hot_path::instrumented_on(backend, schema).await;
        let user = app.user("counted@example.com").await;
        let other = app.user("other@example.com").await;
        let expected: [&[&str]; 5] = match schema {
            Schema::Migrations => [
                &["INSERT sessions"],
                &["INSERT accounts"],
                &["INSERT authenticators"],
                if mysql { &["BEGIN", "UPDATE sessions", "SELECT sessions", "COMMIT"] } else { &["UPDATE sessions"] },
                if mysql { &["BEGIN", "SELECT users FOR UPDATE", "DELETE users", "COMMIT"] } else { &["DELETE users"] },
            ],
            Schema::WithoutForeignKeys => [
                &[begin, share, "INSERT sessions", "COMMIT"],
                &[begin, share, "INSERT accounts", "COMMIT"],
                &[begin, share, "INSERT authenticators", "COMMIT"],
                if mysql {
                    &[begin, share, "UPDATE sessions", "SELECT sessions", "COMMIT"]
                } else {
                    &[begin, share, "UPDATE sessions", "COMMIT"]
                },
                &[
                    begin,
                    exclusive,
                    "DELETE sessions",
                    "DELETE accounts",
                    "DELETE authenticators",
                    "DELETE users",
                    "COMMIT",
                ],
            ],
        };
        let calls = [
            (
                "createSession",
                json!({ "session": { "sessionToken": "t", "userId": user, "expires": "2099-01-01T00:00:00.000Z" } }),
            ),
            (
                "linkAccount",
                json!({ "account": { "userId": user, "type": "oauth", "provider": "p", "providerAccountId": "1" } }),
            ),
            (
                "createAuthenticator",
                json!({ "authenticator": {
                "credentialID": "c", "userId": user, "providerAccountId": "c", "credentialPublicKey": "pk",
                "counter": 0, "credentialDeviceType": "singleDevice", "credentialBackedUp": false } }),
            ),
            ("updateSession", json!({ "session": { "sessionToken": "t", "userId": other } })),
            ("deleteUser", json!({ "userId": other })),
        ];
        for ((method, body), expected) in calls.into_iter().zip(expected) {
            log.lock().unwrap().clear();
            app.ok(method, body).await;
            let statements: Vec<String> = log.lock().unwrap().iter().map(|sql| shape(sql)).collect();
            // Behind a transaction pooler every unit of work is one transaction (src/db/pg.rs),
            // and a locking transaction nests in it as a savepoint.
            let expected: Vec<String> = match (backend, expected) {
                (Backend::PgBouncer, [first, inner @ .., "COMMIT"]) if *first == begin => {
                    let mut unit = vec![begin.to_owned(), "SAVEPOINT".to_owned()];
                    unit.extend(inner.iter().map(|s| (*s).to_owned()));
                    unit.extend(["RELEASE SAVEPOINT".to_owned(), "COMMIT".to_owned()]);
                    unit
                }
                (Backend::PgBouncer, statements) => {
                    [&[begin][..], statements, &["COMMIT"]].concat().iter().map(|s| (*s).to_owned()).collect()
                }
                (_, statements) => statements.iter().map(|s| (*s).to_owned()).collect(),
            };
            assert_eq!(statements, expected, "{backend:?} {schema:?} {method}");
        }
    }
}

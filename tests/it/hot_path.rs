//! The session read on every page view: statements per call, counted by diesel's own
//! instrumentation on the only connection of the pool (and on SQLite's readers).

use std::sync::{Arc, Mutex};

use authbridge::Settings;
use authbridge::db::PoolOptions;
use diesel::connection::InstrumentationEvent;
use diesel_async::AsyncConnection;
use serde_json::json;

use crate::support::{
    BACKENDS, Backend, Schema, Scratch, TestApp, execute, new_db, no_foreign_keys_ddl, pool_options, ready_db_with,
};

crate::harness::tests! {
    async on BACKENDS: get_session_and_user_runs_the_fewest_statements, without_foreign_keys_the_hot_path_is_the_same;
}

pub type Log = Arc<Mutex<Vec<String>>>;

/// An app whose pool has one connection, which records every statement it starts (as do
/// SQLite's readers).
async fn instrumented(backend: Backend) -> (TestApp, Log) {
    instrumented_on(backend, Schema::Migrations).await
}

/// [`instrumented`] on a database made from `schema`.
pub async fn instrumented_on(backend: Backend, schema: Schema) -> (TestApp, Log) {
    instrumented_with(backend, schema, Settings::default()).await
}

/// [`instrumented_on`] with `settings`.
pub async fn instrumented_with(backend: Backend, schema: Schema, settings: Settings) -> (TestApp, Log) {
    let (scratch, url) = Scratch::create(backend).await;
    if schema == Schema::WithoutForeignKeys {
        execute(&new_db(&url, &pool_options()), no_foreign_keys_ddl(backend)).await;
    }
    let db = ready_db_with(&url, &PoolOptions { max_size: 1, ..pool_options() }, None).await;
    let log: Log = Arc::default();
    let recorder = {
        let log = log.clone();
        move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                log.lock().unwrap().push(query.to_string());
            }
        }
    };
    authbridge::with_conn!(db, conn => {
        conn.set_instrumentation(recorder.clone());
        Ok::<_, authbridge::db::Error>(())
    })
    .unwrap();
    // SQLite answers reads on its readers (src/db/sqlite.rs), outside the pool: they record too.
    if let Some(readers) = db.sqlite_readers() {
        readers.set_instrumentation(move || Box::new(recorder.clone()));
    }
    (TestApp::over(db, settings, backend, scratch), log)
}

async fn statements(log: &Log, app: &TestApp, body: serde_json::Value) -> Vec<String> {
    log.lock().unwrap().clear();
    let response = app.ok("getSessionAndUser", body).await;
    assert!(!response.is_null());
    log.lock().unwrap().clone()
}

async fn get_session_and_user_runs_the_fewest_statements(backend: Backend) {
    let (app, log) = instrumented(backend).await;
    page_views_run_the_fewest_statements(backend, app, log).await
}

/// Where authbridge enforces the relations (no foreign keys), page views run the same statements:
/// the read joins `users`, and only writes take the extra steps (relation_mode.rs counts those).
async fn without_foreign_keys_the_hot_path_is_the_same(backend: Backend) {
    let (app, log) = instrumented_on(backend, Schema::WithoutForeignKeys).await;
    assert_eq!(app.db.relation_mode(), authbridge::config::RelationMode::Prisma);
    page_views_run_the_fewest_statements(backend, app, log).await
}

async fn page_views_run_the_fewest_statements(backend: Backend, app: TestApp, log: Log) {
    let user = app.user("a@example.com").await;
    let expires = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    app.ok("createSession", json!({ "session": { "sessionToken": "tok", "userId": user, "expires": expires } })).await;

    let due = statements(&log, &app, json!({ "sessionToken": "tok", "maxAge": 2_592_000, "updateAge": 86_400 })).await;
    let not_due =
        statements(&log, &app, json!({ "sessionToken": "tok", "maxAge": 2_592_000, "updateAge": 86_400 })).await;
    let read_only = statements(&log, &app, json!({ "sessionToken": "tok", "slide": false })).await;
    // Behind a transaction pooler the page view runs in a transaction of its own (src/db/pg.rs):
    // BEGIN and COMMIT are the two extra round trips, around all of its statements.
    let (due, not_due, read_only) = if backend == Backend::PgBouncer {
        (unit(&due), unit(&not_due), unit(&read_only))
    } else {
        (due, not_due, read_only)
    };
    // Every backend: the page view is one plain SELECT joining the user, and only a due slide adds
    // the conditional UPDATE (no transaction: the UPDATE re-checks the expiry under the row lock).
    assert_eq!(due.len(), 2, "{backend:?}: a read, then the conditional write: {due:?}");
    assert!(due[0].starts_with("SELECT"), "{due:?}");
    assert!(due[1].starts_with("UPDATE"), "{due:?}");
    assert_eq!(not_due.len(), 1, "{backend:?} never writes when no slide is due: {not_due:?}");
    assert!(not_due[0].starts_with("SELECT"), "{not_due:?}");
    assert_eq!(read_only.len(), 1, "{read_only:?}");
    assert!(read_only[0].starts_with("SELECT"), "{read_only:?}");
}

/// The statements inside the units of work, each of which must open with the unit's `BEGIN` and
/// end with `COMMIT` (a due slide is a second unit: it checks a connection out of its own).
fn unit(statements: &[String]) -> Vec<String> {
    let mut inside = Vec::new();
    let mut rest = statements;
    while !rest.is_empty() {
        let end = rest.iter().position(|s| s == "COMMIT");
        assert!(rest[0] == authbridge::db::pg::UNIT_BEGIN && end.is_some_and(|end| end >= 1), "{statements:?}");
        let end = end.unwrap_or_default();
        inside.extend_from_slice(&rest[1..end]);
        rest = &rest[end + 1..];
    }
    assert!(!inside.is_empty(), "{statements:?}");
    inside
}

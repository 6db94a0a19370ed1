//! Races that Auth.js apps hit in production: a magic link clicked twice, many tabs reading a
//! session that is due to slide, two sign-ups with one email.

use std::collections::BTreeSet;

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, sql_query};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::{BACKENDS, Backend, CACHED, On, TestApp};

const PARALLEL: usize = 20;

crate::harness::tests! {
    async on BACKENDS:
        verification_token_is_used_exactly_once,
        due_session_slides_exactly_once,
        update_age_zero_slides_on_every_read,
        concurrent_sign_ups_with_one_email_create_one_user;
    // The same races with the session cache on: it must change none of their outcomes.
    async on CACHED:
        verification_token_is_used_exactly_once,
        due_session_slides_exactly_once,
        update_age_zero_slides_on_every_read,
        concurrent_sign_ups_with_one_email_create_one_user;
}

/// Runs `PARALLEL` copies of one adapter call at the same time; returns each status and JSON
/// answer.
async fn race(app: &TestApp, method: &'static str, body: Value) -> Vec<(u16, Value)> {
    let calls = (0..PARALLEL).map(|_| {
        let (client, body) = (app.client.clone(), body.clone());
        tokio::spawn(async move {
            let response = client.call(method, body).await;
            (response.status.as_u16(), response.json())
        })
    });
    join_all(calls).await.into_iter().map(|r| r.expect("task")).collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Counts every UPDATE of `sessions` with a trigger: the database's own record of writes.
async fn install_update_counter(app: &TestApp) {
    let sql = match app.backend {
        Backend::Postgres | Backend::PgBouncer => {
            "CREATE TABLE session_writes (at TIMESTAMP DEFAULT now());
             CREATE FUNCTION count_session_write() RETURNS trigger AS $$
               BEGIN INSERT INTO session_writes DEFAULT VALUES; RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER session_writes AFTER UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION count_session_write();"
        }
        Backend::Sqlite | Backend::SqliteUnixMs => {
            "CREATE TABLE session_writes (at TEXT);
             CREATE TRIGGER session_writes AFTER UPDATE ON sessions BEGIN INSERT INTO session_writes VALUES (datetime('now')); END;"
        }
        Backend::Mysql => {
            "CREATE TABLE session_writes (at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3));
             CREATE TRIGGER session_writes AFTER UPDATE ON sessions FOR EACH ROW INSERT INTO session_writes () VALUES ();"
        }
    };
    authbridge::with_conn!(app.db, conn => conn.batch_execute(sql).await).unwrap();
}

async fn session_writes(app: &TestApp) -> i64 {
    let count: Count = authbridge::with_conn!(app.db, conn =>
        sql_query("SELECT COUNT(*) AS n FROM session_writes").get_result(conn).await)
    .unwrap();
    count.n
}

async fn verification_token_is_used_exactly_once(on: impl Into<On>) {
    let app = TestApp::spawn_on(on).await;
    let expires = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    app.ok(
        "createVerificationToken",
        json!({ "verificationToken": { "identifier": "a@example.com", "token": "magic", "expires": expires } }),
    )
    .await;
    let results = race(&app, "useVerificationToken", json!({ "identifier": "a@example.com", "token": "magic" })).await;
    assert!(results.iter().all(|(status, _)| *status == 200), "{results:?}");
    let winners: Vec<&Value> = results.iter().map(|(_, body)| body).filter(|b| !b.is_null()).collect();
    assert_eq!(winners.len(), 1, "exactly one caller gets the token: {results:?}");
    assert_eq!(winners[0]["token"], "magic");
}

async fn due_session_slides_exactly_once(on: impl Into<On>) {
    let app = TestApp::spawn_on(on).await;
    install_update_counter(&app).await;
    let user = app.user("a@example.com").await;
    let created = app
        .ok(
            "createSession",
            json!({ "session": { "sessionToken": "tok", "userId": user, "expires": (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339() } }),
        )
        .await;
    // expires - maxAge + updateAge = now - 28 days <= now: due.
    let read = json!({ "sessionToken": "tok", "maxAge": 2_592_000, "updateAge": 86_400 });
    let results = race(&app, "getSessionAndUser", read.clone()).await;
    assert!(results.iter().all(|(status, body)| *status == 200 && !body.is_null()), "{results:?}");
    assert_eq!(session_writes(&app).await, 1, "twenty concurrent reads write once");

    let returned: BTreeSet<&str> = results.iter().map(|(_, b)| b["session"]["expires"].as_str().unwrap()).collect();
    let after = app.ok("getSessionAndUser", read).await;
    let slid = after["session"]["expires"].as_str().unwrap();
    assert_ne!(slid, created["expires"].as_str().unwrap(), "the expiry moved");
    // A reader that lost the race may report the expiry it read before the winner's commit;
    // no reader reports a value that was never stored.
    assert!(returned.iter().all(|e| *e == slid || *e == created["expires"].as_str().unwrap()), "{returned:?}");
    assert!(returned.contains(slid), "the winner reports the new expiry");
    assert_eq!(session_writes(&app).await, 1, "a read right after the slide does not write");
}

async fn update_age_zero_slides_on_every_read(on: impl Into<On>) {
    let app = TestApp::spawn_on(on).await;
    install_update_counter(&app).await;
    let user = app.user("a@example.com").await;
    let expires = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    app.ok("createSession", json!({ "session": { "sessionToken": "tok", "userId": user, "expires": expires } })).await;
    for _ in 0..3 {
        app.ok("getSessionAndUser", json!({ "sessionToken": "tok", "maxAge": 3600, "updateAge": 0 })).await;
    }
    assert_eq!(session_writes(&app).await, 3);
    app.ok("getSessionAndUser", json!({ "sessionToken": "tok", "maxAge": 3600, "updateAge": 0, "slide": false })).await;
    assert_eq!(session_writes(&app).await, 3, "slide: false only reads");
}

async fn concurrent_sign_ups_with_one_email_create_one_user(on: impl Into<On>) {
    let app = TestApp::spawn_on(on).await;
    let results = race(&app, "createUser", json!({ "user": { "email": "same@example.com" } })).await;
    let created = results.iter().filter(|(s, _)| *s == 200).count();
    let conflicts = results.iter().filter(|(s, b)| *s == 409 && b["code"] == "already_exists").count();
    assert_eq!((created, conflicts), (1, PARALLEL - 1), "{results:?}");
}

//! The opt-in session cache (src/cache.rs): the contract fixtures with the cache on (TTL 60 s, so
//! a stale answer would show), a sign-out seen at once by its own instance, and on PostgreSQL two
//! instances on one database: every write made through one is never served by the other once
//! the notification has arrived, and losing the listener empties and bypasses the cache until it
//! is back. (The races of `concurrency` run with the cache on too.)

use authbridge::Settings;
use authbridge::cache::{Change, SessionCache};
use axum::http::StatusCode;
use diesel_async::SimpleAsyncConnection;
use serde_json::{Value, json};

use crate::harness::{Test, block_on};
use crate::support::{Backend, CACHED, Cached, Client, Schema, TestApp, wait_until, wait_until_cache_active};

crate::harness::tests! {
    async on CACHED:
        a_sign_out_is_never_answered_after_it_was_acknowledged,
        a_hit_never_serves_an_expired_session_and_still_slides;
    async on [Backend::Postgres]:
        writes_through_one_instance_are_never_served_by_another,
        a_write_is_notified_if_and_only_if_it_commits,
        the_notification_is_a_statement_of_the_writing_transaction,
        every_listed_write_notifies_in_its_transaction,
        losing_the_listener_empties_and_bypasses_the_cache;
}

/// One test per contract fixture and cached backend it runs on.
pub fn fixture_tests() -> Vec<Test> {
    let mut tests = Vec::new();
    for cached in CACHED {
        for name in crate::contract::fixtures_on(cached.0) {
            let path = format!("cache::contract::{name}");
            tests.push(Test::on(cached, &path, &[], None, move || {
                block_on(crate::contract::run_fixture_on(cached.0, &name, async |settings| {
                    TestApp::with_cache(cached.0, settings).await
                }))
            }));
        }
    }
    tests
}

fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339()
}

async fn new_session(client: &Client, token: &str, user: &str) -> Value {
    client
        .ok("createSession", json!({ "session": { "sessionToken": token, "userId": user, "expires": in_an_hour() } }))
        .await
}

/// A read that never slides (so that only the writes under test write).
async fn read(client: &Client, token: &str) -> Value {
    client.ok("getSessionAndUser", json!({ "sessionToken": token, "slide": false })).await
}

fn cache(state: &authbridge::AppState) -> &SessionCache {
    state.session_cache().expect("the cache is on")
}

/// Reads `token` through `client` until its instance has cached it (one read may race a
/// notification that empties the cache).
async fn warm(client: &Client, cache: &SessionCache, token: &str) {
    for _ in 0..100 {
        assert!(!read(client, token).await.is_null(), "{token} is live");
        if cache.contains(token) {
            return;
        }
    }
    panic!("{token} never got cached");
}

async fn a_sign_out_is_never_answered_after_it_was_acknowledged(cached: Cached) {
    let app = TestApp::with_cache(cached.0, Settings::default()).await;
    let user = app.user("a@example.com").await;
    for round in 0..20 {
        let token = format!("tok-{round}");
        new_session(&app, &token, &user).await;
        warm(&app, cache(&app.state), &token).await;
        let deleted = app.ok("deleteSession", json!({ "sessionToken": token })).await;
        assert_eq!(deleted["sessionToken"], token.as_str());
        assert!(read(&app, &token).await.is_null(), "round {round}: answered after its sign-out");
        assert!(!cache(&app.state).contains(&token));
    }
}

async fn a_hit_never_serves_an_expired_session_and_still_slides(cached: Cached) {
    let app = TestApp::with_cache(cached.0, Settings::default()).await;
    let user = app.user("a@example.com").await;
    // Expires in 2 s: cached, then read past its expiry.
    let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(2);
    let expires = soon.to_rfc3339();
    app.ok("createSession", json!({ "session": { "sessionToken": "short", "userId": user, "expires": expires } }))
        .await;
    warm(&app, cache(&app.state), "short").await;
    wait_until("the session has expired", || chrono::Utc::now() > soon + chrono::TimeDelta::milliseconds(10)).await;
    assert!(read(&app, "short").await.is_null(), "a cached session is not served past its expiry");

    // A cached session whose slide is due: the read goes to the database, which slides it.
    new_session(&app, "due", &user).await;
    warm(&app, cache(&app.state), "due").await;
    let before = read(&app, "due").await["session"]["expires"].clone();
    let slid = app.ok("getSessionAndUser", json!({ "sessionToken": "due", "maxAge": 86_400, "updateAge": 0 })).await;
    assert_ne!(slid["session"]["expires"], before, "the due slide was written");
    assert_eq!(read(&app, "due").await["session"]["expires"], slid["session"]["expires"], "and the entry refreshed");
}

/// Runs `write` through `a`, waits until `b` has applied as many notifications as the write sends,
/// and returns.
async fn through_a<F: Future<Output = ()>>(b: &SessionCache, notifications: u64, write: F) {
    let before = b.notifications_applied();
    write.await;
    wait_until("the other instance got the notification", || b.notifications_applied() >= before + notifications).await;
}

async fn writes_through_one_instance_are_never_served_by_another(backend: Backend) {
    let a = TestApp::with_cache(backend, Settings { max_sessions_per_user: 0, ..Settings::default() }).await;
    let (b, b_state) =
        a.instance(Settings { session_cache_ttl: crate::support::CACHE_TTL, ..Settings::default() }).await;
    let b_cache = cache(&b_state);
    let user = a.user("a@example.com").await;

    // deleteSession (sign-out)
    new_session(&a, "t-delete", &user).await;
    warm(&b, b_cache, "t-delete").await;
    through_a(b_cache, 1, async {
        a.ok("deleteSession", json!({ "sessionToken": "t-delete" })).await;
    })
    .await;
    assert!(read(&b, "t-delete").await.is_null(), "sign-out");

    // updateSession
    new_session(&a, "t-update", &user).await;
    warm(&b, b_cache, "t-update").await;
    let later = (chrono::Utc::now() + chrono::TimeDelta::hours(5)).to_rfc3339();
    let updated = a.ok("updateSession", json!({ "session": { "sessionToken": "t-update", "expires": later } })).await;
    wait_until("updateSession is notified", || !b_cache.contains("t-update")).await;
    assert_eq!(read(&b, "t-update").await["session"]["expires"], updated["expires"], "updateSession");

    // updateUser
    warm(&b, b_cache, "t-update").await;
    through_a(b_cache, 1, async {
        a.ok("updateUser", json!({ "user": { "id": user, "name": "Renamed" } })).await;
    })
    .await;
    assert_eq!(read(&b, "t-update").await["user"]["name"], "Renamed", "updateUser");

    // rotation
    new_session(&a, "t-rotate", &user).await;
    warm(&b, b_cache, "t-rotate").await;
    let mut rotated = Value::Null;
    through_a(b_cache, 1, async {
        let response = a.post("/v1/sessions/rotate", &json!({ "sessionToken": "t-rotate" })).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        rotated = response.json();
    })
    .await;
    // Inside the grace window the old token still reads the session: from the database, with the
    // rotation's expiry, not the entry B had cached.
    let by_old = read(&b, "t-rotate").await;
    assert_eq!(by_old["session"]["expires"], rotated["expires"], "rotation: {by_old}");

    // deletion by id
    let by_id = new_session(&a, "t-by-id", &user).await;
    warm(&b, b_cache, "t-by-id").await;
    through_a(b_cache, 1, async {
        let id = by_id["id"].as_str().expect("id");
        assert_eq!(a.delete(&format!("/v1/sessions/{id}")).await.status, StatusCode::OK);
    })
    .await;
    assert!(read(&b, "t-by-id").await.is_null(), "deletion by id");

    // sign-out everywhere
    new_session(&a, "t-everywhere", &user).await;
    warm(&b, b_cache, "t-everywhere").await;
    warm(&b, b_cache, "t-update").await;
    through_a(b_cache, 1, async {
        assert_eq!(a.delete(&format!("/v1/users/{user}/sessions")).await.status, StatusCode::OK);
    })
    .await;
    assert!(read(&b, "t-everywhere").await.is_null(), "sign-out everywhere");
    assert!(read(&b, "t-update").await.is_null(), "sign-out everywhere");

    // the per-user limit's evictions, through an instance with a limit of one session
    let (limited, _limited_state) = a
        .instance(Settings {
            max_sessions_per_user: 1,
            session_cache_ttl: crate::support::CACHE_TTL,
            ..Settings::default()
        })
        .await;
    new_session(&a, "t-evicted", &user).await;
    warm(&b, b_cache, "t-evicted").await;
    through_a(b_cache, 1, async {
        new_session(&limited, "t-newest", &user).await;
    })
    .await;
    assert!(read(&b, "t-evicted").await.is_null(), "the per-user limit's eviction");

    // purge: everything goes (something expired must be there to purge)
    a.ok(
        "createSession",
        json!({ "session": { "sessionToken": "t-expired", "userId": user, "expires": "2000-01-01T00:00:00Z" } }),
    )
    .await;
    warm(&b, b_cache, "t-newest").await;
    through_a(b_cache, 1, async {
        let purged = a.post("/v1/maintenance/purge-expired", &json!({})).await;
        assert_eq!(purged.status, StatusCode::OK, "{}", purged.text);
    })
    .await;
    assert!(!b_cache.contains("t-newest"), "purge empties the other instance's cache");

    // deleteUser
    warm(&b, b_cache, "t-newest").await;
    through_a(b_cache, 1, async {
        a.ok("deleteUser", json!({ "userId": user })).await;
    })
    .await;
    assert!(read(&b, "t-newest").await.is_null(), "deleteUser");
}

/// The notification is sent in the write's own transaction: a listener of its own (a direct
/// `LISTEN` connection, like another instance's) gets the sign-out's, and a refused write (an
/// `updateSession` to a missing user, rolled back) sends none. PostgreSQL delivers notifications
/// in commit order, so the refused write's, sent before, would arrive first.
async fn a_write_is_notified_if_and_only_if_it_commits(backend: Backend) {
    let app = TestApp::with_cache(backend, Settings::default()).await;
    let connector = app.db.pg_connector().expect("PostgreSQL");
    let (_listening, mut notifications) = connector.listen(authbridge::cache::CHANNEL).await.expect("LISTEN");
    let user = app.user("a@example.com").await;
    let session = new_session(&app, "t-commit", &user).await;

    let refused =
        app.call("updateSession", json!({ "session": { "sessionToken": "t-commit", "userId": "no-such-user" } })).await;
    assert!(refused.status.is_client_error(), "{} {}", refused.status, refused.text);

    app.ok("deleteSession", json!({ "sessionToken": "t-commit" })).await;
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), notifications.recv())
        .await
        .expect("a notification within a minute")
        .expect("the LISTEN connection is open");
    let id = session["id"].as_str().expect("id");
    assert_eq!(
        first.payload(),
        authbridge::db::notify::session(id),
        "the sign-out's, and nothing from the refused write before it"
    );
}

/// The statements of a sign-out and of a refused `updateSession` on the pool's only connection:
/// with the cache on, `pg_notify` runs between the write's `BEGIN` and `COMMIT` (and not at all
/// when the write is refused); with the cache off the sign-out stays one `DELETE`.
async fn the_notification_is_a_statement_of_the_writing_transaction(backend: Backend) {
    let cached = Settings { session_cache_ttl: crate::support::CACHE_TTL, ..Settings::default() };
    let (app, log) = crate::hot_path::instrumented_with(backend, Schema::Migrations, cached).await;
    let user = app.user("a@example.com").await;
    new_session(&app, "t-signed-in", &user).await;
    let statements = || std::mem::take(&mut *log.lock().unwrap());
    statements();

    let refused = app
        .call("updateSession", json!({ "session": { "sessionToken": "t-signed-in", "userId": "no-such-user" } }))
        .await;
    assert!(refused.status.is_client_error(), "{} {}", refused.status, refused.text);
    let run = statements();
    assert!(!run.iter().any(|s| s.contains("pg_notify")), "a refused write notifies nothing: {run:?}");

    app.ok("deleteSession", json!({ "sessionToken": "t-signed-in" })).await;
    let run = statements();
    let position = |prefix: &str| run.iter().position(|s| s.starts_with(prefix));
    let (begin, delete, notify, commit) =
        (position("BEGIN"), position("DELETE"), position("SELECT pg_notify"), position("COMMIT"));
    assert!(
        begin.is_some() && begin < delete && delete < notify && notify < commit && commit == Some(run.len() - 1),
        "BEGIN, DELETE, pg_notify, COMMIT: {run:?}"
    );

    let (plain, log) = crate::hot_path::instrumented_with(backend, Schema::Migrations, Settings::default()).await;
    let user = plain.user("a@example.com").await;
    new_session(&plain, "t-plain", &user).await;
    log.lock().unwrap().clear();
    plain.ok("deleteSession", json!({ "sessionToken": "t-plain" })).await;
    let run = log.lock().unwrap().clone();
    assert!(run.len() == 1 && run[0].starts_with("DELETE"), "without the cache, one DELETE: {run:?}");
}

/// Each write the cache cares about, on the pool's only connection, with and without foreign keys
/// (where authbridge enforces the relations, several are locking transactions already): one
/// `pg_notify`, the last statement before the `COMMIT` of the transaction the write opened.
async fn every_listed_write_notifies_in_its_transaction(backend: Backend) {
    for schema in [Schema::Migrations, Schema::WithoutForeignKeys] {
        let settings =
            Settings { session_cache_ttl: crate::support::CACHE_TTL, max_sessions_per_user: 1, ..Settings::default() };
        let (app, log) = crate::hot_path::instrumented_with(backend, schema, settings).await;
        let user = app.user("a@example.com").await;
        let other = app.user("b@example.com").await;
        let statements = || std::mem::take(&mut *log.lock().unwrap());
        let check = |write: &str, run: Vec<String>| {
            let notifies = run.iter().filter(|s| s.contains("pg_notify")).count();
            let last = run.len().saturating_sub(1);
            assert!(
                notifies == 1
                    && run[0].starts_with("BEGIN")
                    && run[last] == "COMMIT"
                    && run[last.saturating_sub(1)].starts_with("SELECT pg_notify"),
                "{schema:?} {write}: {run:?}"
            );
        };

        new_session(&app, "t-1", &user).await;
        statements();
        new_session(&app, "t-2", &user).await;
        check("the per-user limit's eviction", statements());
        app.ok("updateSession", json!({ "session": { "sessionToken": "t-2", "userId": other } })).await;
        check("updateSession moving the session", statements());
        let rotated = app.post("/v1/sessions/rotate", &json!({ "sessionToken": "t-2" })).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
        check("rotation", statements());
        let id = rotated.json()["id"].as_str().expect("id").to_owned();
        assert_eq!(app.delete(&format!("/v1/sessions/{id}")).await.status, StatusCode::OK);
        check("deletion by id", statements());
        new_session(&app, "t-3", &user).await;
        statements();
        assert_eq!(app.delete(&format!("/v1/users/{user}/sessions")).await.status, StatusCode::OK);
        check("sign-out everywhere", statements());
        app.ok("updateUser", json!({ "user": { "id": user, "name": "Renamed" } })).await;
        check("updateUser", statements());
        app.ok("deleteUser", json!({ "userId": user })).await;
        check("deleteUser", statements());

        // The purge: the first batch that deletes sessions, then the verification tokens' batch.
        let expired = json!({ "sessionToken": "t-expired", "userId": other, "expires": "2000-01-01T00:00:00Z" });
        app.ok("createSession", json!({ "session": expired })).await;
        statements();
        let purged = app.post("/v1/maintenance/purge-expired", &json!({})).await;
        assert_eq!(purged.status, StatusCode::OK, "{}", purged.text);
        let run = statements();
        assert_eq!(run.iter().filter(|s| s.contains("pg_notify")).count(), 1, "{schema:?} purge: {run:?}");
        check("the purge's first batch", run[..4].to_vec());
    }
}

async fn losing_the_listener_empties_and_bypasses_the_cache(backend: Backend) {
    let app = TestApp::with_cache(backend, Settings::default()).await;
    let user = app.user("a@example.com").await;
    new_session(&app, "tok", &user).await;
    warm(&app, cache(&app.state), "tok").await;
    // The gauge is process-wide and other tests' instances set it too: only its presence is
    // checked here.
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains(authbridge::cache::LISTENER_UP), "{metrics}");

    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}' AND datname = \
         current_database()",
        authbridge::db::pg::LISTENER_APPLICATION_NAME
    );
    authbridge::with_conn!(app.db, conn => conn.batch_execute(&terminate).await).unwrap();
    wait_until_cache_active(&app.state, false).await;
    assert!(!cache(&app.state).contains("tok"), "emptied when the listener is lost");

    // It reconnects by itself, and the cache is used again.
    wait_until_cache_active(&app.state, true).await;
    warm(&app, cache(&app.state), "tok").await;
    cache(&app.state).invalidate(&Change::All);
    assert!(!cache(&app.state).contains("tok"));
}

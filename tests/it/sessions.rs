//! Session management under concurrency, and the purge outside of requests (command line,
//! background task). The routes' plain behaviour is in the fixtures (`session_management`,
//! `session_limit`, `purge`).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use authbridge::Settings;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::binary::command;
use crate::support::{BACKENDS, Backend, TestApp, TestResponse, execute, texts};

crate::harness::tests! {
    async on BACKENDS:
        reads_after_rotate_answered_never_see_the_old_token,
        of_concurrent_rotations_exactly_one_wins,
        sign_out_everywhere_removes_every_session_created_before_it,
        concurrent_sign_ins_respect_the_session_limit,
        purge_deletes_many_rows_in_batches,
        purge_command_deletes_expired_rows,
        background_task_purges_expired_rows;
}

/// The status and the JSON answer of a response.
fn answer(response: TestResponse) -> (u16, Value) {
    (response.status.as_u16(), response.json())
}

/// Waits until `counter` reaches `at_least` (a loaded machine may take a while to get going)
/// and returns its value then.
async fn wait_for(counter: &AtomicUsize, at_least: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = counter.load(Ordering::Relaxed);
        if now >= at_least {
            return now;
        }
        assert!(Instant::now() < deadline, "only {now} of {at_least} requests answered in 20 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn new_session(app: &TestApp, user_id: &str, expires: &str) -> Value {
    app.ok("createSession", json!({ "session": { "userId": user_id, "expires": expires } })).await
}

fn token_of(session: &Value) -> String {
    session["sessionToken"].as_str().expect("sessionToken").to_owned()
}

/// Readers keep reading the session (sliding on every read, so they also write) while it is
/// rotated: a read sent after the rotation answered must never find the old token. Without a
/// grace window, that is (`--rotation-grace 0`, reuse only refused: tests/it/rotation.rs has the
/// window), so that the old token must stop at the very moment the rotation commits.
async fn reads_after_rotate_answered_never_see_the_old_token(backend: Backend) {
    let rotation = authbridge::rotation::Policy { grace: Duration::ZERO, reuse: authbridge::rotation::Reuse::Ignore };
    let app = TestApp::with_settings(backend, Settings { rotation, ..Default::default() }).await;
    let user = app.user("rotate-race@example.com").await;
    for round in 0..3 {
        let session = new_session(&app, &user, "2099-01-01T00:00:00.000Z").await;
        let old = token_of(&session);
        let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let readers: Vec<_> = (0..6)
            .map(|_| {
                let (client, stop, done, old) = (app.client.clone(), stop.clone(), done.clone(), old.clone());
                tokio::spawn(async move {
                    let mut reads = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let body = json!({ "sessionToken": old, "maxAge": 3600, "updateAge": 0 });
                        let (status, found) = answer(client.call("getSessionAndUser", body).await);
                        assert_eq!(status, 200, "getSessionAndUser: {found}");
                        reads.push((sent, !found.is_null()));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    reads
                })
            })
            .collect();
        wait_for(&done, 20).await;
        let (status, rotated) = answer(app.post("/v1/sessions/rotate", &json!({ "sessionToken": old })).await);
        let answered = Instant::now();
        assert_eq!(status, 200, "rotate: {rotated}");
        assert_eq!(rotated["id"], session["id"], "rotation keeps the session id");
        // At most one read per reader was in flight when rotate answered: the rest were sent after.
        wait_for(&done, done.load(Ordering::Relaxed) + 40).await;
        stop.store(true, Ordering::Relaxed);
        let reads: Vec<(Instant, bool)> = join_all(readers).await.into_iter().flat_map(|r| r.unwrap()).collect();

        let before = reads.iter().filter(|(sent, found)| *sent < answered && *found).count();
        let after: Vec<bool> = reads.iter().filter(|(sent, _)| *sent > answered).map(|(_, found)| *found).collect();
        assert!(before > 0, "round {round}: no read found the session before the rotation; the race did not happen");
        assert!(!after.is_empty(), "round {round}: no read was sent after the rotation answered");
        assert_eq!(
            after.iter().filter(|found| **found).count(),
            0,
            "round {round}: {} of {} reads sent after rotate answered still found the old token",
            after.iter().filter(|found| **found).count(),
            after.len()
        );
        let new = rotated["sessionToken"].as_str().unwrap();
        assert_ne!(new, old);
        let found = app.ok("getSessionAndUser", json!({ "sessionToken": new })).await;
        assert_eq!(found["session"]["id"], session["id"], "the new token finds the same session");
    }
}

async fn of_concurrent_rotations_exactly_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("rotate-twice@example.com").await;
    for round in 0..5 {
        let session = new_session(&app, &user, "2099-01-01T00:00:00.000Z").await;
        let old = token_of(&session);
        let rotations = (0..8).map(|_| {
            let (client, old) = (app.client.clone(), old.clone());
            tokio::spawn(
                async move { answer(client.post("/v1/sessions/rotate", &json!({ "sessionToken": old })).await) },
            )
        });
        let results: Vec<(u16, Value)> = join_all(rotations).await.into_iter().map(|r| r.unwrap()).collect();
        assert!(results.iter().all(|(status, _)| *status == 200), "round {round}: {results:?}");
        let winners: Vec<&Value> = results.iter().map(|(_, body)| body).filter(|body| !body.is_null()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one rotation succeeds: {results:?}");
        let new = winners[0]["sessionToken"].as_str().unwrap();
        let stored = texts(
            &app.db,
            &format!(
                "SELECT {q}sessionToken{q} AS value FROM sessions WHERE id = '{}'",
                session["id"].as_str().unwrap(),
                q = if backend == Backend::Mysql { '`' } else { '"' },
            ),
        )
        .await;
        assert_eq!(stored, vec![new.to_owned()], "round {round}: the winner's token is the stored one");
    }
}

/// Sign-ins keep creating sessions while the user signs out everywhere: every session whose
/// creation had answered before the sign-out was sent must be gone afterwards.
async fn sign_out_everywhere_removes_every_session_created_before_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("everywhere@example.com").await;
    let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let creators: Vec<_> = (0..4)
        .map(|_| {
            let (client, stop, done, user) = (app.client.clone(), stop.clone(), done.clone(), user.clone());
            tokio::spawn(async move {
                let mut created = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({ "session": { "userId": user, "expires": "2099-01-01T00:00:00.000Z" } });
                    let (status, session) = answer(client.call("createSession", body).await);
                    assert_eq!(status, 200, "createSession: {session}");
                    created.push((Instant::now(), token_of(&session)));
                    done.fetch_add(1, Ordering::Relaxed);
                }
                created
            })
        })
        .collect();
    wait_for(&done, 20).await;
    let sent = Instant::now();
    let (status, deleted) = answer(app.delete(&format!("/v1/users/{user}/sessions")).await);
    assert_eq!(status, 200, "{deleted}");
    wait_for(&done, done.load(Ordering::Relaxed) + 20).await;
    stop.store(true, Ordering::Relaxed);
    let created: Vec<(Instant, String)> = join_all(creators).await.into_iter().flat_map(|r| r.unwrap()).collect();

    let before: Vec<&String> = created.iter().filter(|(at, _)| *at < sent).map(|(_, token)| token).collect();
    assert!(!before.is_empty(), "no session was created before the sign-out; the race did not happen");
    assert!(deleted["deleted"].as_u64().unwrap() as usize >= before.len(), "{deleted} vs {} created", before.len());
    for token in before {
        let found = app.ok("getSessionAndUser", json!({ "sessionToken": token, "slide": false })).await;
        assert!(found.is_null(), "a session created before the sign-out survived it");
    }
}

async fn concurrent_sign_ins_respect_the_session_limit(backend: Backend) {
    let settings = Settings { max_sessions_per_user: 3, ..Settings::default() };
    let app = TestApp::with_settings(backend, settings).await;
    let user = app.user("limit@example.com").await;
    for round in 0..3 {
        let creates = (0..12).map(|i| {
            let (client, user) = (app.client.clone(), user.clone());
            tokio::spawn(async move {
                let expires = format!("2099-01-01T00:00:{i:02}.000Z");
                answer(client.call("createSession", json!({ "session": { "userId": user, "expires": expires } })).await)
            })
        });
        let results: Vec<(u16, Value)> = join_all(creates).await.into_iter().map(|r| r.unwrap()).collect();
        assert!(results.iter().all(|(status, _)| *status == 200), "round {round}: {results:?}");
        let listed = app.get(&format!("/v1/users/{user}/sessions?active=false")).await.json();
        assert_eq!(listed.as_array().unwrap().len(), 3, "round {round}: {listed}");
    }
}

async fn insert_expired(app: &TestApp, user_id: &str, sessions: usize, tokens: usize) {
    // Server-formatted dates: the SQLite database has settled on one format.
    let expired = app.db.time(chrono::Utc::now() - chrono::TimeDelta::hours(1));
    let literal = match app.backend {
        Backend::Postgres | Backend::PgBouncer | Backend::Mysql => format!("'{}'", expired.at().naive_utc()),
        _ => format!("'{}'", expired.at().format("%Y-%m-%dT%H:%M:%S%.3f+00:00")),
    };
    let quote = if app.backend == Backend::Mysql { '`' } else { '"' };
    let mut sql = String::new();
    for i in 0..sessions {
        sql.push_str(&format!(
            "INSERT INTO sessions (id, {quote}sessionToken{quote}, {quote}userId{quote}, expires) VALUES ('expired-{i}', 'expired-token-{i}', '{user_id}', {literal});"
        ));
    }
    for i in 0..tokens {
        sql.push_str(&format!(
            "INSERT INTO verification_tokens (identifier, token, expires) VALUES ('purge@example.com', 'link-{i}', {literal});"
        ));
    }
    execute(&app.db, &sql).await;
}

async fn purge_deletes_many_rows_in_batches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("purge-many@example.com").await;
    insert_expired(&app, &user, 2_500, 30).await;
    let live = new_session(&app, &user, "2099-01-01T00:00:00.000Z").await;
    let purged =
        authbridge::purge::run(&app.db, NonZeroU32::new(1_000).unwrap(), &authbridge::audit::Actor::command(), false)
            .await
            .expect("purge");
    assert_eq!((purged.sessions_deleted, purged.verification_tokens_deleted), (2_500, 30));
    let left = texts(&app.db, "SELECT id AS value FROM sessions").await;
    assert_eq!(left, vec![live["id"].as_str().unwrap().to_owned()]);
}

async fn purge_command_deletes_expired_rows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("purge-command@example.com").await;
    insert_expired(&app, &user, 3, 2).await;
    let url = app.db_url();
    let output = command(&["purge-expired", "--purge-batch-size", "2"])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run authbridge purge-expired");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "exit {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(printed, json!({ "sessionsDeleted": 3, "verificationTokensDeleted": 2 }));
    assert!(texts(&app.db, "SELECT id AS value FROM sessions").await.is_empty());
}

async fn background_task_purges_expired_rows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("purge-background@example.com").await;
    insert_expired(&app, &user, 5, 1).await;
    let task = authbridge::purge::spawn_background(app.db.clone(), Duration::from_millis(100), NonZeroU32::MIN)
        .expect("a non-zero interval starts the task");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left =
            texts(&app.db, "SELECT id AS value FROM sessions UNION ALL SELECT token FROM verification_tokens").await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the background purge left {} rows", left.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(authbridge::purge::spawn_background(app.db.clone(), Duration::ZERO, NonZeroU32::MIN).is_none());
}

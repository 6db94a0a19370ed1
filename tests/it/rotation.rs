//! Rotation with the optional `previousSessionToken` / `rotatedAt` columns (src/rotation.rs): the
//! previous token reads the session inside the grace window and never learns the new one; after
//! the window it revokes the session (or, with `ignore`, only is refused); `rotateAfter` rotates
//! only a token that old; of concurrent rotations exactly one wins and the losers' old token keeps
//! reading; tokens stored hashed stay hashed in both columns; the cache never serves a revoked
//! session; and a schema without the columns rotates as it always did.

use std::time::Duration;

use authbridge::Settings;
use authbridge::at_rest::{AtRest, SessionTokenStorage};
use authbridge::rotation::{Policy, Reuse};
use axum::http::StatusCode;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{
    BACKENDS, Backend, CACHED, Cached, Client, DATABASES, Schema, Scratch, TestApp, execute, quoted, ready_db, texts,
};

crate::harness::tests! {
    async on BACKENDS:
        the_previous_token_reads_the_session_inside_the_grace_window,
        after_the_window_the_previous_token_revokes_the_session,
        rotate_after_rotates_only_a_token_that_old,
        of_concurrent_rotations_one_wins_and_the_old_token_keeps_reading,
        without_the_columns_rotation_works_as_before;
    async on DATABASES:
        with_reuse_ignore_the_session_lives_on,
        hashed_tokens_stay_hashed_in_both_columns;
    async on CACHED: the_cache_never_serves_a_session_revoked_by_reuse;
    async: the_openapi_document_describes_rotation;
}

/// Inside it, however slow the machine.
const LONG_GRACE: Duration = Duration::from_secs(600);
/// Waited out by the tests of what happens after it.
const SHORT_GRACE: Duration = Duration::from_secs(1);
const EXPIRES: &str = "2099-01-01T00:00:00.000Z";

fn settings(grace: Duration, reuse: Reuse) -> Settings {
    Settings { rotation: Policy { grace, reuse }, ..Settings::default() }
}

async fn app(backend: Backend, grace: Duration) -> TestApp {
    TestApp::with_settings(backend, settings(grace, Reuse::Revoke)).await
}

/// A user with one session whose token is `token`; the session's id.
async fn signed_in(client: &Client, token: &str) -> String {
    let user = client.user(&format!("{token}@example.com")).await;
    let session = json!({ "session": { "sessionToken": token, "userId": user, "expires": EXPIRES } });
    client.ok("createSession", session).await["id"].as_str().unwrap().to_owned()
}

async fn rotate(client: &Client, body: Value) -> Value {
    let response = client.post("/v1/sessions/rotate", &body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json()
}

async fn read(client: &Client, token: &str) -> Value {
    client.ok("getSessionAndUser", json!({ "sessionToken": token })).await
}

fn token_of(session: &Value) -> &str {
    session["sessionToken"].as_str().unwrap_or_else(|| panic!("a session: {session}"))
}

async fn listed(client: &Client, user_id: &str) -> Vec<Value> {
    client.get(&format!("/v1/users/{user_id}/sessions")).await.json().as_array().expect("a list").clone()
}

async fn the_previous_token_reads_the_session_inside_the_grace_window(backend: Backend) {
    let app = app(backend, LONG_GRACE).await;
    let id = signed_in(&app, "grace-old-1").await;
    let rotated = rotate(&app, json!({ "sessionToken": "grace-old-1" })).await;
    let new = token_of(&rotated).to_owned();
    assert_eq!(rotated["id"], id.as_str());
    assert_ne!(new, "grace-old-1");

    // The old token answers the session and user as the new one does, never revealing it.
    let (by_old, by_new) = (read(&app, "grace-old-1").await, read(&app, &new).await);
    assert_eq!(by_old["session"]["id"], id.as_str(), "{by_old}");
    assert_eq!(token_of(&by_old["session"]), "grace-old-1");
    assert_eq!((&by_old["user"], &by_old["session"]["userId"]), (&by_new["user"], &by_new["session"]["userId"]));
    assert!(!by_old.to_string().contains(&new), "{by_old}");

    // The row: the old token in previousSessionToken, the rotation's time in rotatedAt (shown).
    let stored = texts(&app.db, &quoted(backend, r#"SELECT "previousSessionToken" AS value FROM sessions"#)).await;
    assert_eq!(stored, ["grace-old-1"]);
    let user_id = by_new["user"]["id"].as_str().unwrap();
    let rows = listed(&app, user_id).await;
    assert!(rows[0]["rotatedAt"].is_string(), "{rows:?}");

    // A rotation of the old token: a plain one is refused (its caller would set the old token as
    // the cookie), a browser's conditional one is answered unchanged; neither rotates again.
    assert_eq!(rotate(&app, json!({ "sessionToken": "grace-old-1" })).await, Value::Null);
    let kept = rotate(&app, json!({ "sessionToken": "grace-old-1", "rotateAfter": 0 })).await;
    assert_eq!((token_of(&kept), &kept["id"]), ("grace-old-1", &json!(id)));
    assert_eq!(read(&app, &new).await["session"]["id"], id.as_str(), "the new token still works");

    // Two rotations back a token is nobody's: null, and the session lives on.
    let newer = token_of(&rotate(&app, json!({ "sessionToken": new })).await).to_owned();
    assert_eq!(read(&app, "grace-old-1").await, Value::Null);
    assert_eq!(read(&app, &new).await["session"]["id"], id.as_str(), "the previous token, in its window");
    assert_eq!(read(&app, &newer).await["session"]["id"], id.as_str());
}

async fn after_the_window_the_previous_token_revokes_the_session(backend: Backend) {
    let app = app(backend, SHORT_GRACE).await;
    let id = signed_in(&app, "reuse-read-1").await;
    let user_id = read(&app, "reuse-read-1").await["user"]["id"].as_str().unwrap().to_owned();
    let new = token_of(&rotate(&app, json!({ "sessionToken": "reuse-read-1" })).await).to_owned();
    tokio::time::sleep(SHORT_GRACE + Duration::from_millis(50)).await;
    assert_eq!(read(&app, &new).await["session"]["id"], id.as_str(), "the new token works after the window");

    // Two parties hold the session: both are signed out.
    assert_eq!(read(&app, "reuse-read-1").await, Value::Null);
    assert_eq!(read(&app, &new).await, Value::Null);
    assert!(listed(&app, &user_id).await.is_empty());

    // Through a rotation (the middleware's call) the same.
    signed_in(&app, "reuse-rotate-1").await;
    let new = token_of(&rotate(&app, json!({ "sessionToken": "reuse-rotate-1" })).await).to_owned();
    tokio::time::sleep(SHORT_GRACE + Duration::from_millis(50)).await;
    assert_eq!(rotate(&app, json!({ "sessionToken": "reuse-rotate-1", "rotateAfter": 0 })).await, Value::Null);
    assert_eq!(read(&app, &new).await, Value::Null);
}

async fn with_reuse_ignore_the_session_lives_on(backend: Backend) {
    let app = TestApp::with_settings(backend, settings(SHORT_GRACE, Reuse::Ignore)).await;
    let id = signed_in(&app, "ignore-1").await;
    let new = token_of(&rotate(&app, json!({ "sessionToken": "ignore-1" })).await).to_owned();
    tokio::time::sleep(SHORT_GRACE + Duration::from_millis(50)).await;
    assert_eq!(read(&app, "ignore-1").await, Value::Null);
    assert_eq!(read(&app, &new).await["session"]["id"], id.as_str());
}

async fn rotate_after_rotates_only_a_token_that_old(backend: Backend) {
    let app = app(backend, LONG_GRACE).await;
    let id = signed_in(&app, "after-1").await;
    let hour = json!({ "sessionToken": "after-1", "rotateAfter": 3600 });

    // Created just now (createdAt): not due; answered unchanged.
    let kept = rotate(&app, hour.clone()).await;
    assert_eq!((token_of(&kept), &kept["id"], &kept["expires"]), ("after-1", &json!(id), &json!(EXPIRES)));
    let rotated = rotate(&app, json!({ "sessionToken": "after-1", "rotateAfter": 0 })).await;
    let new = token_of(&rotated).to_owned();
    assert_ne!(new, "after-1");
    // Rotated just now (rotatedAt): not due either.
    let kept = rotate(&app, json!({ "sessionToken": new, "rotateAfter": 3600 })).await;
    assert_eq!(token_of(&kept), new);

    // A row whose age nobody knows (written by another program without the metadata) is due.
    execute(&app.db, &quoted(backend, r#"UPDATE sessions SET "createdAt" = NULL, "rotatedAt" = NULL"#)).await;
    let rotated = rotate(&app, json!({ "sessionToken": new, "rotateAfter": 3600 })).await;
    assert_ne!(token_of(&rotated), new);

    // Missing and malformed.
    assert_eq!(rotate(&app, json!({ "sessionToken": "after-unknown", "rotateAfter": 0 })).await, Value::Null);
    for bad in [json!(-1), json!("1h"), json!(1.5)] {
        let response = app.post("/v1/sessions/rotate", &json!({ "sessionToken": "after-1", "rotateAfter": bad })).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{bad}: {}", response.text);
    }
}

async fn of_concurrent_rotations_one_wins_and_the_old_token_keeps_reading(backend: Backend) {
    let app = app(backend, LONG_GRACE).await;
    let id = signed_in(&app, "race-1").await;
    let plain = join_all((0..8).map(|_| rotate(&app, json!({ "sessionToken": "race-1" })))).await;
    let winners: Vec<&Value> = plain.iter().filter(|answer| !answer.is_null()).collect();
    assert_eq!(winners.len(), 1, "exactly one plain rotation wins: {plain:?}");
    let new = token_of(winners[0]).to_owned();
    assert_eq!(read(&app, "race-1").await["session"]["id"], id.as_str(), "a loser's old token still reads");

    // A browser's conditional rotations: one rotates, the others keep the token they sent.
    let conditional = json!({ "sessionToken": new, "rotateAfter": 0 });
    let answers = join_all((0..8).map(|_| rotate(&app, conditional.clone()))).await;
    let rotated: Vec<&Value> = answers.iter().filter(|answer| token_of(answer) != new).collect();
    assert_eq!(rotated.len(), 1, "exactly one conditional rotation rotates: {answers:?}");
    assert!(answers.iter().all(|answer| answer["id"] == id.as_str()), "{answers:?}");
    assert_eq!(read(&app, &new).await["session"]["id"], id.as_str());
    assert_eq!(read(&app, token_of(rotated[0])).await["session"]["id"], id.as_str());
}

/// A database migrated by authbridge, then without the rotation columns.
async fn app_without_rotation_columns(backend: Backend) -> TestApp {
    let (scratch, url) = Scratch::create(backend).await;
    let migrated = ready_db(&url).await;
    // SQLite drops no column that an index covers.
    let index = if backend.is_sqlite() { r#"DROP INDEX "sessions_previousSessionToken_key"; "# } else { "" };
    let drops = format!(
        r#"{index}ALTER TABLE sessions DROP COLUMN "previousSessionToken"; ALTER TABLE sessions DROP COLUMN "rotatedAt";"#
    );
    execute(&migrated, &quoted(backend, &drops)).await;
    drop(migrated);
    TestApp::over(ready_db(&url).await, settings(LONG_GRACE, Reuse::Revoke), backend, scratch)
}

async fn without_the_columns_rotation_works_as_before(backend: Backend) {
    let app = app_without_rotation_columns(backend).await;
    let id = signed_in(&app, "legacy-rot-1").await;
    let new = token_of(&rotate(&app, json!({ "sessionToken": "legacy-rot-1" })).await).to_owned();
    assert_eq!(read(&app, "legacy-rot-1").await, Value::Null, "the old token stops at once");
    let by_new = read(&app, &new).await;
    assert_eq!(by_new["session"]["id"], id.as_str());
    let rows = listed(&app, by_new["user"]["id"].as_str().unwrap()).await;
    assert_eq!(rows[0]["rotatedAt"], Value::Null);

    // A conditional rotation would sign a browser's in-flight requests out: refused, and why.
    let response = app.post("/v1/sessions/rotate", &json!({ "sessionToken": new, "rotateAfter": 60 })).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", response.text);
    assert!(response.text.contains("previousSessionToken"), "{}", response.text);
    assert_eq!(read(&app, &new).await["session"]["id"], id.as_str(), "and nothing changed");
}

async fn hashed_tokens_stay_hashed_in_both_columns(backend: Backend) {
    let at_rest = AtRest { session_tokens: SessionTokenStorage::Sha256, encryption_keys: None };
    let app = TestApp::with_at_rest(backend, Schema::Migrations, settings(LONG_GRACE, Reuse::Revoke), at_rest).await;
    let id = signed_in(&app, "hashed-rot-1").await;
    let new = token_of(&rotate(&app, json!({ "sessionToken": "hashed-rot-1" })).await).to_owned();
    let sql = quoted(
        backend,
        r#"SELECT "sessionToken" AS value FROM sessions UNION ALL SELECT "previousSessionToken" FROM sessions"#,
    );
    let mut stored = texts(&app.db, &sql).await;
    stored.sort_unstable();
    let hash = authbridge::at_rest::sha256_hex;
    let mut hashes = [hash(&new), hash("hashed-rot-1")];
    hashes.sort_unstable();
    assert_eq!(stored, hashes);
    let by_old = read(&app, "hashed-rot-1").await;
    assert_eq!((&by_old["session"]["id"], token_of(&by_old["session"])), (&json!(id), "hashed-rot-1"));
}

async fn the_cache_never_serves_a_session_revoked_by_reuse(Cached(backend): Cached) {
    let app = TestApp::with_cache(backend, settings(SHORT_GRACE, Reuse::Revoke)).await;
    signed_in(&app, "cached-rot-1").await;
    assert!(read(&app, "cached-rot-1").await.is_object());
    let new = token_of(&rotate(&app, json!({ "sessionToken": "cached-rot-1" })).await).to_owned();
    // Both answers in the cache's way: the new token's cached, the old one's read in its window.
    assert!(read(&app, &new).await.is_object());
    assert!(read(&app, &new).await.is_object());
    assert!(read(&app, "cached-rot-1").await.is_object());
    tokio::time::sleep(SHORT_GRACE + Duration::from_millis(50)).await;
    assert_eq!(read(&app, "cached-rot-1").await, Value::Null, "not an answer the cache kept");
    assert_eq!(read(&app, &new).await, Value::Null, "the revocation emptied the new token's entry");
}

async fn the_openapi_document_describes_rotation() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/openapi.json").await.json();
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["RotateArg"]["properties"]["rotateAfter"].is_object(), "{}", schemas["RotateArg"]);
    assert!(schemas["SessionInfo"]["properties"]["rotatedAt"].is_object(), "{}", schemas["SessionInfo"]);
    let rotate = &doc["paths"]["/v1/sessions/rotate"]["post"];
    let description = rotate["description"].as_str().unwrap();
    for term in ["--rotation-grace", "--rotation-reuse", "rotateAfter"] {
        assert!(description.contains(term), "{term}: {description}");
    }
    assert!(rotate["responses"]["422"].is_object(), "{rotate}");
}

//! The optional `Session` columns (`createdAt`, `ipAddress`, `updatedAt`, `userAgent`): written
//! where they exist, at creation, on every write of the row and never on a read; shown by the
//! management routes; a database without them (or with some) works as before.

use authbridge::Settings;
use serde_json::{Value, json};

use crate::support::{BACKENDS, Backend, Scratch, TestApp, execute, quoted, ready_db};

crate::harness::tests! {
    async on BACKENDS:
        metadata_follows_creation_slides_updates_and_rotations,
        context_values_are_bounded_and_named_in_the_400,
        without_the_columns_everything_works_as_before,
        with_some_columns_only_those_are_written;
    async: the_openapi_document_describes_the_context_and_the_metadata;
}

const IP: &str = "203.0.113.7";
/// Sessions here expire in 2099: with a `maxAge` of 100 years (the largest) a read with
/// `updateAge` 0 is due, and slides.
const SLIDE_MAX_AGE: u64 = 3_153_600_000;
const LAPTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1";

/// The user's one session, as `GET /v1/users/{id}/sessions` shows it.
async fn listed(app: &TestApp, user: &str) -> Value {
    let list = app.get(&format!("/v1/users/{user}/sessions")).await.json();
    let rows = list.as_array().expect("a list");
    assert_eq!(rows.len(), 1, "{list}");
    rows[0].clone()
}

fn millis(date: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(date.as_str().expect("a date")).expect("RFC 3339").timestamp_millis()
}

/// Waits until the clock has moved past `date` by a millisecond: the columns hold milliseconds.
async fn after(date: &Value) {
    while chrono::Utc::now().timestamp_millis() <= millis(date) + 1 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

async fn metadata_follows_creation_slides_updates_and_rotations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("devices@example.com").await;
    let before = chrono::Utc::now().timestamp_millis();
    let created = app
        .ok(
            "createSession",
            json!({ "session": { "userId": user, "expires": "2099-01-01T00:00:00.000Z" },
                    "context": { "ipAddress": IP, "userAgent": LAPTOP } }),
        )
        .await;
    // The adapter's Session keeps the Auth.js shape.
    let mut keys: Vec<&str> = created.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["expires", "id", "sessionToken", "userId"]);
    let token = created["sessionToken"].as_str().unwrap().to_owned();

    let row = listed(&app, &user).await;
    assert_eq!((row["ipAddress"].as_str(), row["userAgent"].as_str()), (Some(IP), Some(LAPTOP)));
    let created_at = row["createdAt"].clone();
    assert!(millis(&created_at) >= before - 1 && millis(&created_at) <= chrono::Utc::now().timestamp_millis());
    assert_eq!(row["updatedAt"], created_at, "creation writes the row");

    // A read that is not due writes nothing: updatedAt stays.
    after(&created_at).await;
    let read = json!({ "sessionToken": token, "maxAge": 3600, "updateAge": 3600 });
    assert!(app.ok("getSessionAndUser", read).await.is_object());
    assert_eq!(listed(&app, &user).await["updatedAt"], created_at, "no write on a read");

    // A slide writes the row.
    let slide = json!({ "sessionToken": token, "maxAge": SLIDE_MAX_AGE, "updateAge": 0 });
    assert!(app.ok("getSessionAndUser", slide).await.is_object());
    let slid = listed(&app, &user).await;
    assert!(millis(&slid["updatedAt"]) > millis(&created_at), "a slide sets updatedAt: {slid}");
    assert_eq!(slid["createdAt"], created_at);

    // So does updateSession.
    after(&slid["updatedAt"]).await;
    let update = json!({ "session": { "sessionToken": token, "expires": "2098-01-01T00:00:00.000Z" } });
    app.ok("updateSession", update).await;
    let updated = listed(&app, &user).await;
    assert!(millis(&updated["updatedAt"]) > millis(&slid["updatedAt"]), "{updated}");

    // A rotation writes what its context gives and keeps the rest.
    after(&updated["updatedAt"]).await;
    let rotate = json!({ "sessionToken": token, "context": { "userAgent": PHONE } });
    let rotated = app.post("/v1/sessions/rotate", &rotate).await.json();
    assert_eq!(rotated["id"], created["id"]);
    let row = listed(&app, &user).await;
    assert_eq!((row["ipAddress"].as_str(), row["userAgent"].as_str()), (Some(IP), Some(PHONE)));
    assert!(millis(&row["updatedAt"]) > millis(&updated["updatedAt"]), "{row}");
    assert_eq!(row["createdAt"], created_at);

    // Without a context, nothing is known about the device.
    let other = app.user("devices-2@example.com").await;
    let plain = json!({ "session": { "userId": other, "expires": "2099-01-01T00:00:00.000Z" } });
    app.ok("createSession", plain).await;
    let row = listed(&app, &other).await;
    assert_eq!((&row["ipAddress"], &row["userAgent"]), (&Value::Null, &Value::Null));
    assert!(row["createdAt"].is_string() && row["updatedAt"].is_string(), "{row}");

    // The deleted session comes back with its metadata.
    let deleted = app.delete(&format!("/v1/sessions/{}", created["id"].as_str().unwrap())).await.json();
    assert_eq!((deleted["userAgent"].as_str(), deleted["createdAt"].clone()), (Some(PHONE), created_at));
}

async fn context_values_are_bounded_and_named_in_the_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("bounds@example.com").await;
    let session = json!({ "userId": user, "expires": "2099-01-01T00:00:00.000Z" });
    let secret = "not-for-logs-";
    // MySQL's VARCHAR(191) refuses a user agent the server's own bound (512) would accept.
    let long_agent = if backend == Backend::Mysql { 192 } else { 513 };
    for (context, field) in [
        (json!({ "ipAddress": format!("{secret}{}", "1".repeat(60)) }), "context.ipAddress"),
        (json!({ "userAgent": format!("{secret}{}", "a".repeat(long_agent)) }), "context.userAgent"),
        (json!({ "userAgent": 7 }), "context.userAgent"),
        (json!({ "city": "Paris" }), "context"),
    ] {
        for response in [
            app.call("createSession", json!({ "session": session, "context": context })).await,
            app.post("/v1/sessions/rotate", &json!({ "sessionToken": "t", "context": context })).await,
        ] {
            assert_eq!(response.status.as_u16(), 400, "{context}: {}", response.text);
            let problem = response.json();
            assert_eq!(problem["code"], "invalid_argument");
            assert!(problem["field"].as_str().unwrap().starts_with(field), "{field}: {problem}");
            assert!(!response.text.contains(secret), "the value is not echoed: {}", response.text);
        }
    }
    // At the bounds it is accepted.
    let agent = "a".repeat(if backend == Backend::Mysql { 191 } else { 512 });
    let context = json!({ "ipAddress": "1".repeat(64), "userAgent": agent });
    app.ok("createSession", json!({ "session": session, "context": context })).await;
    assert_eq!(listed(&app, &user).await["userAgent"].as_str(), Some(agent.as_str()));
}

/// A database migrated by authbridge, then with `columns` of `sessions` dropped, served by a
/// fresh start (which detects what is left).
async fn app_without(backend: Backend, columns: &[&str]) -> TestApp {
    let (scratch, url) = Scratch::create(backend).await;
    let migrated = ready_db(&url).await;
    let drops: Vec<String> = columns.iter().map(|c| format!("ALTER TABLE sessions DROP COLUMN \"{c}\";")).collect();
    execute(&migrated, &quoted(backend, &drops.join(" "))).await;
    drop(migrated);
    TestApp::over(ready_db(&url).await, Settings::default(), backend, scratch)
}

/// A sign-in with `context`, then a read that slides its expiry; returns the created session.
async fn sign_in_and_slide(app: &TestApp, user: &str, context: &Value) -> Value {
    let session = json!({ "userId": user, "expires": "2099-01-01T00:00:00.000Z" });
    let created = app.ok("createSession", json!({ "session": session, "context": context })).await;
    let slide = json!({ "sessionToken": created["sessionToken"], "maxAge": SLIDE_MAX_AGE, "updateAge": 0 });
    let slid = app.ok("getSessionAndUser", slide).await;
    assert_ne!(slid["session"]["expires"], created["expires"], "the slide happened");
    created
}

async fn without_the_columns_everything_works_as_before(backend: Backend) {
    let app = app_without(backend, &["createdAt", "ipAddress", "updatedAt", "userAgent"]).await;
    let user = app.user("legacy@example.com").await;
    let context = json!({ "ipAddress": IP, "userAgent": LAPTOP });
    let created = sign_in_and_slide(&app, &user, &context).await;
    let token = created["sessionToken"].as_str().unwrap();
    let update = json!({ "session": { "sessionToken": token, "expires": "2098-01-01T00:00:00.000Z" } });
    app.ok("updateSession", update).await;
    let rotated = app.post("/v1/sessions/rotate", &json!({ "sessionToken": token, "context": context })).await.json();
    assert_eq!(rotated["id"], created["id"]);
    let row = listed(&app, &user).await;
    for key in ["createdAt", "updatedAt", "ipAddress", "userAgent"] {
        assert_eq!(row[key], Value::Null, "{key}: {row}");
    }
    let deleted = app.delete(&format!("/v1/sessions/{}", created["id"].as_str().unwrap())).await.json();
    assert_eq!((&deleted["id"], &deleted["createdAt"]), (&created["id"], &Value::Null));
}

async fn with_some_columns_only_those_are_written(backend: Backend) {
    let app = app_without(backend, &["updatedAt", "userAgent"]).await;
    let user = app.user("partial@example.com").await;
    sign_in_and_slide(&app, &user, &json!({ "ipAddress": IP, "userAgent": LAPTOP })).await;
    let row = listed(&app, &user).await;
    assert_eq!(row["ipAddress"].as_str(), Some(IP));
    assert!(row["createdAt"].is_string(), "{row}");
    assert_eq!((&row["updatedAt"], &row["userAgent"]), (&Value::Null, &Value::Null));
}

/// The document is derived from the types: the new fields are there, and its bounds are enforced.
async fn the_openapi_document_describes_the_context_and_the_metadata() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/openapi.json").await.json();
    let schemas = &doc["components"]["schemas"];
    for field in ["createdAt", "updatedAt", "ipAddress", "userAgent"] {
        assert!(
            schemas["SessionInfo"]["properties"][field].is_object(),
            "SessionInfo.{field}: {}",
            schemas["SessionInfo"]
        );
    }
    for wrapper in ["NewSessionArg", "RotateArg"] {
        assert!(schemas[wrapper]["properties"]["context"].is_object(), "{wrapper}.context: {}", schemas[wrapper]);
    }
    let context = &schemas["SessionContext"];
    assert_eq!(context["additionalProperties"], json!(false), "{context}");
    let user = app.user("openapi@example.com").await;
    for field in ["ipAddress", "userAgent"] {
        let max = context["properties"][field]["maxLength"].as_u64().expect("maxLength") as usize;
        for (length, status) in [(max, 200), (max + 1, 400)] {
            let body = json!({ "session": { "userId": user, "expires": "2099-01-01T00:00:00.000Z" },
                               "context": { field: "1".repeat(length) } });
            let response = app.call("createSession", body).await;
            // MySQL's shorter column does not apply here: the app runs on SQLite.
            assert_eq!(response.status.as_u16(), status, "{field} of {length}: {}", response.text);
        }
    }
}

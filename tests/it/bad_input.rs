//! No bad input yields a 500: every malformed, mistyped, empty, huge or unauthenticated request
//! gets a 4xx problem document that names the problem. Also: secrets never reach logs or bodies.

use std::sync::{Arc, Mutex, OnceLock};

use authbridge::Settings;
use authbridge::auth::ApiKeys;
use authbridge::router::adapter_methods;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::support::{BACKENDS, Backend, DATABASES, TestApp, TestResponse};

crate::harness::tests! {
    async on BACKENDS:
        garbage_bodies_get_4xx_problems,
        every_field_mutated_gets_4xx_or_ok,
        bodies_over_the_limit_get_413,
        api_keys_are_required_when_configured,
        integers_written_with_a_zero_fraction_are_integers,
        dropped_keys_may_hold_anything,
        key_limits_count_characters_and_fit_the_indexes,
        create_user_ignores_any_user_id,
        the_document_follows_the_unknown_fields_policy;
    async on DATABASES: secrets_never_reach_logs_or_error_bodies;
}

fn assert_problem(response: &TestResponse, context: &str) {
    assert!(response.status.is_client_error(), "{context}: expected 4xx, got {} {}", response.status, response.text);
    assert_eq!(response.header("content-type"), Some("application/problem+json"), "{context}");
    let body = response.json();
    assert!(body["code"].is_string() && body["detail"].is_string(), "{context}: {body}");
    assert_eq!(body["requestId"].as_str(), response.header("x-request-id"), "{context}");
}

async fn raw(app: &TestApp, method: &str, content_type: Option<&str>, body: Vec<u8>) -> TestResponse {
    let mut request = Request::post(format!("/v1/adapter/{method}"));
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

async fn garbage_bodies_get_4xx_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"1".to_vec(),
        b"\"text\"".to_vec(),
        b"{".to_vec(),
        b"{}".to_vec(),
        b"{} {}".to_vec(),
        b"{\"unknown\": 1}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"{\"id\": \"\\ud800\"}".to_vec(),
        b"{\"id\": 1e999}".to_vec(),
        deep.into_bytes(),
    ];
    for method in adapter_methods() {
        for body in &garbage {
            let response = raw(&app, method, Some("application/json"), body.clone()).await;
            assert_problem(&response, &format!("{method} {:?}", String::from_utf8_lossy(&body[..body.len().min(40)])));
        }
        for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonx")] {
            let response = raw(&app, method, ct, b"{}".to_vec()).await;
            assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{method} {ct:?}");
            assert_problem(&response, method);
        }
    }
}

/// A valid body for each method, given a user and existing rows.
pub(crate) fn valid_bodies(user: &str) -> Vec<(&'static str, Value)> {
    let expires = "2030-01-02T03:04:05.678Z";
    vec![
        (
            "createUser",
            json!({ "user": { "name": "n", "email": "m@example.com", "emailVerified": expires, "image": "i" } }),
        ),
        ("getUser", json!({ "id": user })),
        ("getUserByEmail", json!({ "email": "a@example.com" })),
        ("getUserByAccount", json!({ "provider": "p", "providerAccountId": "1" })),
        ("updateUser", json!({ "user": { "id": user, "name": "x", "emailVerified": expires } })),
        (
            "linkAccount",
            json!({ "account": { "userId": user, "type": "oauth", "provider": "q", "providerAccountId": "2", "expires_at": 5, "scope": "s" } }),
        ),
        ("unlinkAccount", json!({ "provider": "p", "providerAccountId": "404" })),
        ("createSession", json!({ "session": { "sessionToken": "t2", "userId": user, "expires": expires } })),
        ("getSessionAndUser", json!({ "sessionToken": "t1", "maxAge": 60, "updateAge": 30, "slide": true })),
        ("updateSession", json!({ "session": { "sessionToken": "t1", "expires": expires, "userId": user } })),
        ("deleteSession", json!({ "sessionToken": "t404" })),
        (
            "createVerificationToken",
            json!({ "verificationToken": { "identifier": "i", "token": "v2", "expires": expires } }),
        ),
        ("useVerificationToken", json!({ "identifier": "i", "token": "v404" })),
        ("getAccount", json!({ "provider": "p", "providerAccountId": "1" })),
        ("getAuthenticator", json!({ "credentialID": "c1" })),
        (
            "createAuthenticator",
            json!({ "authenticator": { "credentialID": "c2", "userId": user, "providerAccountId": "pa",
            "credentialPublicKey": "k", "counter": 1, "credentialDeviceType": "singleDevice", "credentialBackedUp": false, "transports": "usb" } }),
        ),
        ("listAuthenticatorsByUserId", json!({ "userId": user })),
        ("updateAuthenticatorCounter", json!({ "credentialID": "c1", "counter": 2 })),
        ("deleteUser", json!({ "userId": "nobody" })),
    ]
}

/// Every path to a leaf of `value`.
fn leaf_paths(value: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut p = prefix.clone();
                p.push(k.clone());
                leaf_paths(v, p, out);
            }
        }
        _ => out.push(prefix),
    }
}

fn replace(value: &Value, path: &[String], with: Value) -> Value {
    let mut copy = value.clone();
    let mut cursor = &mut copy;
    for key in path {
        cursor = cursor.get_mut(key.as_str()).expect("path exists");
    }
    *cursor = with;
    copy
}

async fn every_field_mutated_gets_4xx_or_ok(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("a@example.com").await;
    let far = "2030-01-01T00:00:00.000Z";
    app.ok("createSession", json!({ "session": { "sessionToken": "t1", "userId": user, "expires": far } })).await;
    app.ok(
        "linkAccount",
        json!({ "account": { "userId": user, "type": "oauth", "provider": "p", "providerAccountId": "1" } }),
    )
    .await;
    app.ok("createAuthenticator", json!({ "authenticator": { "credentialID": "c1", "userId": user, "providerAccountId": "pa",
        "credentialPublicKey": "k", "counter": 1, "credentialDeviceType": "singleDevice", "credentialBackedUp": true } })).await;
    let mutations = [
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!(" "),
        json!("\u{0}"),
        json!("x".repeat(5000)),
        json!("é漢🙂"),
        json!([]),
        json!({}),
        json!(true),
        json!("2026-99-99T00:00:00Z"),
        json!("-000001-01-01T00:00:00Z"),
        json!("9999-12-31T23:59:59.999Z"),
        json!("0000-01-01T00:00:00Z"),
    ];
    let mut tried = 0;
    for (method, body) in valid_bodies(&user) {
        let baseline = app.call(method, body.clone()).await;
        assert!(
            baseline.status.is_success() || baseline.status.is_client_error(),
            "{method} baseline: {}",
            baseline.text
        );
        let mut paths = Vec::new();
        leaf_paths(&body, Vec::new(), &mut paths);
        for path in paths {
            for mutation in &mutations {
                let mutated = replace(&body, &path, mutation.clone());
                let response = app.call(method, mutated).await;
                tried += 1;
                let context = format!(
                    "{method} {} = {}",
                    path.join("."),
                    &mutation.to_string()[..mutation.to_string().len().min(30)]
                );
                assert!(!response.status.is_server_error(), "{context}: {} {}", response.status, response.text);
                if response.status.is_client_error() {
                    assert_problem(&response, &context);
                } else {
                    assert_eq!(response.status, StatusCode::OK, "{context}");
                }
            }
        }
    }
    assert!(tried > 500, "mutated {tried} requests");
}

async fn bodies_over_the_limit_get_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let big = json!({ "user": { "name": "x".repeat(70 * 1024) } });
    let response = app.call("createUser", big).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_problem(&response, "413");
    assert_eq!(response.json()["code"], "payload_too_large");
    let fits = json!({ "user": { "name": "x".repeat(60 * 1024) } });
    let stored = app.call("createUser", fits).await;
    if backend == Backend::Mysql {
        // Under the body limit but over VARCHAR(191): refused by name, never truncated.
        assert_eq!(stored.status, StatusCode::BAD_REQUEST, "{}", stored.text);
        assert_eq!(stored.json()["field"], "user.name");
    } else {
        assert_eq!(stored.status, StatusCode::OK, "a long name under the limit is stored");
    }
}

async fn api_keys_are_required_when_configured(backend: Backend) {
    let settings = Settings { api_keys: ApiKeys::new(["old-key", "new-key"]), ..Settings::default() };
    let app = TestApp::with_settings(backend, settings).await;
    let request = |auth: Option<&str>, path: &str| {
        let mut r = Request::post(path).header("content-type", "application/json");
        if let Some(auth) = auth {
            r = r.header("authorization", auth);
        }
        r.body(Body::from(r#"{"id":"x"}"#)).unwrap()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer "),
        Some("Basic b2xkLWtleQ=="),
        Some("old-key"),
        Some("Bearer old-key-and-more"),
    ] {
        for path in ["/v1/adapter/getUser", "/v1/adapter/nope", "/nowhere"] {
            let response = app.send(request(auth, path)).await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{auth:?} {path}");
            assert_eq!(response.header("www-authenticate"), Some("Bearer"));
            assert_problem(&response, "401");
            assert_eq!(response.json()["code"], "unauthenticated");
        }
    }
    for key in ["Bearer old-key", "Bearer new-key", "bearer new-key"] {
        let response = app.send(request(Some(key), "/v1/adapter/getUser")).await;
        assert_eq!(response.status, StatusCode::OK, "{key}: both keys are valid during a rotation");
    }
    for path in ["/healthz", "/readyz"] {
        let response = app.get(path).await;
        assert_eq!(response.status, StatusCode::OK, "{path} needs no key");
    }
}

/// A `MakeWriter` that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The process's global subscriber, at trace level into memory: installed by the first test
/// that asks, and from then on it captures every test's events (so the tests below also check
/// what runs beside them).
fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let filter = tracing_subscriber::EnvFilter::new("trace");
        authbridge::startup::try_init_tracing(authbridge::config::LogFormat::Json, filter, logs.clone())
            .expect("no other test installs a global subscriber");
        logs
    })
}

async fn secrets_never_reach_logs_or_error_bodies(backend: Backend) {
    let logs = captured_logs();
    let settings = Settings { api_keys: ApiKeys::new(["key-SECRET-api"]), ..Settings::default() };
    let app = TestApp::with_settings(backend, settings).await;
    let client = app.with_key("key-SECRET-api");
    let steps = [
        ("createUser", json!({ "user": { "email": "secret-email@example.com" } })),
        ("createUser", json!({ "user": { "email": "secret-email@example.com" } })),
        ("getUserByEmail", json!({ "email": "secret-email@example.com" })),
        (
            "createVerificationToken",
            json!({ "verificationToken": { "identifier": "secret-email@example.com", "token": "SECRET-verification", "expires": "2030-01-01T00:00:00Z" } }),
        ),
        (
            "createVerificationToken",
            json!({ "verificationToken": { "identifier": "secret-email@example.com", "token": "SECRET-verification", "expires": "2030-01-01T00:00:00Z" } }),
        ),
        ("useVerificationToken", json!({ "identifier": "secret-email@example.com", "token": "SECRET-verification" })),
        (
            "createSession",
            json!({ "session": { "sessionToken": "SECRET-session", "userId": "no-such-user", "expires": "2030-01-01T00:00:00Z" } }),
        ),
        ("getSessionAndUser", json!({ "sessionToken": "SECRET-session", "maxAge": "SECRET-session" })),
        ("deleteSession", json!({ "sessionToken": "SECRET-session" })),
        (
            "linkAccount",
            json!({ "account": { "userId": "nobody", "type": "oauth", "provider": "p", "providerAccountId": "1", "access_token": "SECRET-oauth", "refresh_token": "SECRET-oauth" } }),
        ),
        ("getUser", json!({ "id": "SECRET-session\u{0}" })),
    ];
    let mut bodies = String::new();
    for (method, body) in steps {
        let response = client.call(method, body).await;
        assert!(!response.status.is_server_error(), "{method}: {}", response.text);
        if !response.status.is_success() {
            bodies.push_str(&response.text);
        }
    }
    let wrong_key = Request::post("/v1/adapter/getUser")
        .header("content-type", "application/json")
        .header("authorization", "Bearer SECRET-wrong-key")
        .body(Body::from(json!({ "id": "x" }).to_string()))
        .unwrap();
    bodies.push_str(&client.send(wrong_key).await.text);
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request"), "the capture works: {logs}");
    for secret in ["secret-email", "SECRET"] {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
        assert!(!bodies.contains(secret), "a secret reached an error body:\n{bodies}");
    }
}

// Regressions found by the schemathesis run of scripts/fuzz.sh: requests the OpenAPI document
// allows must not be refused, and what it forbids must be refused.

/// JSON Schema counts `60.0` as the integer 60; serde refused it for integer fields.
async fn integers_written_with_a_zero_fraction_are_integers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user("whole@example.com").await;
    // Due for a slide under maxAge 60 / updateAge 0: it then expires a minute from now.
    let soon = (chrono::Utc::now() + chrono::TimeDelta::seconds(30)).to_rfc3339();
    app.ok("createSession", json!({ "session": { "sessionToken": "w1", "userId": user, "expires": soon } })).await;
    let lookup = app.ok("getSessionAndUser", json!({ "sessionToken": "w1", "maxAge": 60.0, "updateAge": 0.0 })).await;
    let expires = chrono::DateTime::parse_from_rfc3339(lookup["session"]["expires"].as_str().unwrap()).unwrap();
    let ahead = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((50..=60).contains(&ahead), "maxAge 60.0 slid the session to a minute ahead: {lookup}");
    let account = app
        .ok(
            "linkAccount",
            json!({ "account": { "userId": user, "type": "oauth", "provider": "p", "providerAccountId": "1", "expires_at": 1.9e9 } }),
        )
        .await;
    assert_eq!(account["expires_at"], 1_900_000_000);
    let authenticator = json!({ "authenticator": { "credentialID": "c-whole", "userId": user, "providerAccountId": "pa",
        "credentialPublicKey": "k", "counter": -2.0, "credentialDeviceType": "singleDevice", "credentialBackedUp": false } });
    assert_eq!(app.ok("createAuthenticator", authenticator).await["counter"], -2);
    let counter =
        app.ok("updateAuthenticatorCounter", json!({ "credentialID": "c-whole", "counter": 2147483647.0 })).await;
    assert_eq!(counter["counter"], i32::MAX);
    let rotated = app.post("/v1/sessions/rotate", &json!({ "sessionToken": "w1", "maxAge": 3600.0 })).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let purged = app.post("/v1/maintenance/purge-expired", &json!({ "batchSize": 10.0 })).await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.text);

    // A fraction, a value out of the field's range, or no number at all is still a 400 naming it.
    let refused = [
        ("getSessionAndUser", json!({ "sessionToken": "w1", "maxAge": 60.5 }), "maxAge"),
        ("getSessionAndUser", json!({ "sessionToken": "w1", "maxAge": -1.0 }), "maxAge"),
        ("getSessionAndUser", json!({ "sessionToken": "w1", "updateAge": 1e300 }), "updateAge"),
        ("getSessionAndUser", json!({ "sessionToken": "w1", "maxAge": "60" }), "maxAge"),
        ("updateAuthenticatorCounter", json!({ "credentialID": "c-whole", "counter": 2147483648.0 }), "counter"),
        ("updateAuthenticatorCounter", json!({ "credentialID": "c-whole", "counter": true }), "counter"),
        (
            "linkAccount",
            json!({ "account": { "userId": user, "type": "oauth", "provider": "p", "providerAccountId": "2", "expires_at": 0.25 } }),
            "account.expires_at",
        ),
    ];
    for (method, body, field) in refused {
        let response = app.call(method, body.clone()).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{method} {body}: {}", response.text);
        assert_problem(&response, method);
        assert_eq!(response.json()["field"], field, "{method} {body}");
    }
    let purge = app.post("/v1/maintenance/purge-expired", &json!({ "batchSize": 0.5 })).await;
    assert_eq!(purge.status, StatusCode::BAD_REQUEST, "{}", purge.text);
}

/// `user` and `account` drop keys without a column whatever they hold, arrays included; a
/// column given an array is still a 400.
async fn dropped_keys_may_hold_anything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .call(
            "createUser",
            json!({ "user": { "email": "drop@example.com", "roles": ["admin"], "meta": { "a": [[1], {}] } } }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("authbridge-ignored-fields"), Some("user.roles, user.meta"));
    let user = response.json()["id"].as_str().unwrap().to_owned();
    let account = json!({ "account": { "userId": user, "type": "oauth", "provider": "p", "providerAccountId": "1",
        "authorization_details": [{ "type": "x" }] } });
    let response = app.call("linkAccount", account).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("authbridge-ignored-fields"), Some("account.authorization_details"));
    let updated = app.call("updateUser", json!({ "user": { "id": user, "tags": [], "name": "n" } })).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);

    for (method, body, field) in [
        ("createUser", json!({ "user": { "name": ["n"] } }), "user.name"),
        ("updateUser", json!({ "user": { "id": [user] } }), "user.id"),
        (
            "linkAccount",
            json!({ "account": { "userId": user, "type": "oauth", "provider": ["p"], "providerAccountId": "2" } }),
            "account.provider",
        ),
    ] {
        let response = app.call(method, body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{method}: {}", response.text);
        assert_eq!(response.json()["field"], field, "{method}");
    }
}

/// Keys are limited in characters, as the document's `maxLength` counts; the longest allowed
/// keys, in four-byte characters, still fit PostgreSQL's B-tree limit in two-column unique
/// indexes (provider + providerAccountId, identifier + token, userId + credentialID).
async fn key_limits_count_characters_and_fit_the_indexes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document = app.get("/openapi.json").await.json();
    let key = &document["components"]["schemas"]["Key"];
    let max = key["maxLength"].as_u64().expect("Key has a maxLength") as usize;
    assert_eq!(max, authbridge::handlers::input::MAX_KEY_CHARS);
    // MySQL's columns (VARCHAR(191), utf8mb4) hold fewer characters than the key limit: there the
    // column's own limit is the longest key, and it fits InnoDB's index limit the same way.
    let stored = if backend == Backend::Mysql { 191 } else { max };
    let longest = |c: char| c.to_string().repeat(stored);
    let (wide, wider) = (longest('🙂'), longest('\u{10FFFF}'));
    assert_eq!(wide.len(), 4 * stored);

    let user = app.ok("createUser", json!({ "user": { "email": wide } })).await;
    assert_eq!(user["email"], wide.as_str());
    let user_id = user["id"].as_str().unwrap().to_owned();
    let account =
        json!({ "account": { "userId": user_id, "type": "oauth", "provider": wide, "providerAccountId": wider } });
    assert_eq!(app.ok("linkAccount", account).await["providerAccountId"], wider.as_str());
    let token =
        json!({ "verificationToken": { "identifier": wide, "token": wider, "expires": "2030-01-01T00:00:00Z" } });
    app.ok("createVerificationToken", token).await;
    let authenticator = json!({ "authenticator": { "credentialID": wider, "userId": user_id, "providerAccountId": wide,
        "credentialPublicKey": "k", "counter": 0, "credentialDeviceType": "singleDevice", "credentialBackedUp": false } });
    app.ok("createAuthenticator", authenticator).await;
    let session = json!({ "session": { "sessionToken": wider, "userId": user_id, "expires": "2030-01-01T00:00:00Z" } });
    app.ok("createSession", session).await;
    let found = app.ok("getSessionAndUser", json!({ "sessionToken": wider })).await;
    assert_eq!(found["user"]["email"], wide.as_str());
    let used = app.ok("useVerificationToken", json!({ "identifier": wide, "token": wider })).await;
    assert_eq!(used["token"], wider.as_str());

    let too_long = "a".repeat(max + 1);
    for (method, body, field) in [
        ("getUserByEmail", json!({ "email": too_long }), "email"),
        ("getUser", json!({ "id": format!("{}é", "a".repeat(max)) }), "id"),
        ("createUser", json!({ "user": { "email": too_long } }), "user.email"),
    ] {
        let response = app.call(method, body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{method}: {}", response.text);
        assert_eq!(response.json()["field"], field);
        assert!(response.json()["detail"].as_str().unwrap().contains("characters"), "{}", response.text);
    }
    let path = format!("/v1/users/{}/sessions", "a".repeat(max + 1));
    let response = app.get(&path).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.text);

    // The document forbids NUL in every string type, and the server refuses it.
    for schema in ["Key", "NonEmptyString", "Text"] {
        let pattern = document["components"]["schemas"][schema]["pattern"].as_str();
        assert_eq!(pattern, Some("^[^\\u0000]*$"), "{schema}");
    }
}

/// Auth.js core sends the id it generated; createUser ignores `user.id` whatever it holds (the
/// document does not constrain it), and makes its own.
async fn create_user_ignores_any_user_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for id in
        [json!(""), json!(5), json!(null), json!([1]), json!({ "x": 1 }), json!("a\u{0}b"), json!("x".repeat(2000))]
    {
        let response = app.call("createUser", json!({ "user": { "id": id, "name": "n" } })).await;
        assert_eq!(response.status, StatusCode::OK, "{id}: {}", response.text);
        assert_ne!(response.json()["id"], id);
        assert_eq!(response.header("authbridge-ignored-fields"), None, "user.id is not reported");
    }
}

/// With `--unknown-fields=reject` the served document closes `user` and `account` objects, so a
/// client (or the fuzzer) is not promised what the server then refuses; `user.id` stays allowed.
async fn the_document_follows_the_unknown_fields_policy(backend: Backend) {
    use authbridge::config::UnknownFields;
    for policy in [UnknownFields::Drop, UnknownFields::Reject] {
        let settings = Settings { unknown_fields: policy, ..Settings::default() };
        let app = TestApp::with_settings(backend, settings).await;
        let document = app.get("/openapi.json").await.json();
        let closed = policy == UnknownFields::Reject;
        for schema in ["UserFields", "AccountFields"] {
            let extra = &document["components"]["schemas"][schema]["additionalProperties"];
            assert_eq!(extra == &json!(false), closed, "{policy:?} {schema}: {extra}");
        }
        let with_id = app.call("createUser", json!({ "user": { "id": "core-id", "email": "p@example.com" } })).await;
        assert_eq!(with_id.status, StatusCode::OK, "{policy:?}: {}", with_id.text);
        let extra = app.call("createUser", json!({ "user": { "email": "q@example.com", "extra": 1 } })).await;
        let expected = if closed { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        assert_eq!(extra.status, expected, "{policy:?}: {}", extra.text);
    }
}

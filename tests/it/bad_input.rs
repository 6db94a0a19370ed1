//! No bad input yields a 500: every malformed, mistyped, empty, huge or unauthenticated request
//! gets a 4xx problem document that names the problem. Also: secrets never reach logs or bodies.

use std::sync::{Arc, Mutex};

use authbridge::Settings;
use authbridge::handlers::adapter::METHODS;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, TestResponse, backend_tests};

backend_tests!(
    garbage_bodies_get_4xx_problems,
    every_field_mutated_gets_4xx_or_ok,
    bodies_over_the_limit_get_413,
    api_keys_are_required_when_configured,
);

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
    let Some(app) = TestApp::spawn(backend).await else { return };
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
    for method in METHODS {
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
fn valid_bodies(user: &str) -> Vec<(&'static str, Value)> {
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
    let Some(app) = TestApp::spawn(backend).await else { return };
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
    let Some(app) = TestApp::spawn(backend).await else { return };
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
    let settings = Settings { api_keys: vec!["old-key".into(), "new-key".into()], ..Settings::default() };
    let Some(app) = TestApp::with_settings(backend, settings).await else { return };
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
        let response = app.send(Request::get(path).body(Body::empty()).unwrap()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_or_error_bodies() {
    let logs = Captured::default();
    let filter = tracing_subscriber::EnvFilter::new("trace");
    authbridge::startup::try_init_tracing(authbridge::config::LogFormat::Json, filter, logs.clone())
        .expect("this test owns the global subscriber");
    let mut bodies = String::new();
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let settings = Settings { api_keys: vec!["key-SECRET-api".into()], ..Settings::default() };
        let Some(app) = TestApp::with_settings(backend, settings).await else { continue };
        let call = |method: &str, body: Value| {
            Request::post(format!("/v1/adapter/{method}"))
                .header("content-type", "application/json")
                .header("authorization", "Bearer key-SECRET-api")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
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
            (
                "useVerificationToken",
                json!({ "identifier": "secret-email@example.com", "token": "SECRET-verification" }),
            ),
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
        for (method, body) in steps {
            let response = app.send(call(method, body)).await;
            assert!(!response.status.is_server_error(), "{method}: {}", response.text);
            if !response.status.is_success() {
                bodies.push_str(&response.text);
            }
        }
        let mut wrong_key = call("getUser", json!({ "id": "x" }));
        wrong_key.headers_mut().insert("authorization", "Bearer SECRET-wrong-key".parse().unwrap());
        bodies.push_str(&app.send(wrong_key).await.text);
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request"), "the capture works: {logs}");
    for secret in ["secret-email", "SECRET"] {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
        assert!(!bodies.contains(secret), "a secret reached an error body:\n{bodies}");
    }
}

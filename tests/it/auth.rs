//! API keys: every route but the health checks needs one; two at once for a rotation; keys from a
//! file; a bad key file stops start-up. (The constant-time comparison is unit-tested in
//! `src/auth.rs`: what matters there is that every key is compared and that what is compared has
//! one length, which a timing assertion could not show reliably.)

use std::collections::BTreeSet;

use authbridge::Settings;
use authbridge::auth::ApiKeys;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use crate::binary::{Server, command};
use crate::support::{Backend, TestApp, TestResponse};

crate::harness::tests! {
    async: every_route_but_the_health_checks_needs_a_valid_key, the_document_marks_only_the_health_checks_public;
    sync: keys_from_a_file_and_the_environment_are_all_valid, a_bad_key_file_stops_start_up;
}

const OLD: &str = "old-key-4f1c2a9e7b";
const NEW: &str = "new-key-d83b60e215";

async fn app() -> TestApp {
    let settings = Settings { api_keys: ApiKeys::new([OLD, NEW]), ..Settings::default() };
    TestApp::with_settings(Backend::Sqlite, settings).await
}

/// `method path` with this `Authorization` header, and `{}` as the body of a POST, PUT or PATCH.
fn request(method: &str, path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let body = if ["POST", "PUT", "PATCH"].contains(&method) { Body::from("{}") } else { Body::empty() };
    request.body(body).unwrap()
}

/// Every operation of the live document, path parameters filled in.
async fn documented_operations(app: &TestApp) -> Vec<(String, String)> {
    let document = app.send(request("GET", "/openapi.json", Some(&format!("Bearer {OLD}")))).await;
    assert_eq!(document.status, StatusCode::OK, "{}", document.text);
    let mut operations = Vec::new();
    for (path, item) in document.json()["paths"].as_object().expect("paths") {
        let filled = path.replace("{userId}", "some-user").replace("{sessionId}", "some-session");
        for method in item.as_object().expect("path item").keys() {
            operations.push((method.to_uppercase(), filled.clone()));
        }
    }
    assert!(operations.len() >= 30, "the document lists every operation: {operations:?}");
    operations
}

/// Authorization headers that must not get in, each next to a real key in some way.
fn wrong_credentials() -> Vec<Option<String>> {
    let mut wrong: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Bearer  ".into()),
        Some("Bearer wrong-key".into()),
        Some("Bearer third-key-00000000".into()),
        Some(OLD.into()),
        Some(format!("Basic {OLD}")),
        Some(format!("Token {OLD}")),
        Some(format!("Bearer{OLD}")),
        Some(format!("Bearer {OLD},{NEW}")),
        Some(format!("Bearer {OLD} {NEW}")),
        Some(format!("Bearer {}", OLD.to_uppercase())),
    ];
    for key in [OLD, NEW] {
        // Every proper prefix and a few extensions: a comparison that stops early would let one in.
        for end in 1..key.len() {
            wrong.push(Some(format!("Bearer {}", &key[..end])));
        }
        wrong.push(Some(format!("Bearer {}", &key[1..])));
        wrong.push(Some(format!("Bearer {key}x")));
        wrong.push(Some(format!("Bearer x{key}")));
        wrong.push(Some(format!("Bearer {key}{key}")));
    }
    wrong
}

fn assert_unauthenticated(response: &TestResponse, context: &str) {
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{context}: {}", response.text);
    assert_eq!(response.header("www-authenticate"), Some("Bearer"), "{context}");
    assert_eq!(response.header("content-type"), Some("application/problem+json"), "{context}");
    let problem = response.json();
    assert_eq!(problem["code"], "unauthenticated", "{context}");
    assert_eq!(problem["requestId"].as_str(), response.header("x-request-id"), "{context}");
}

/// The problem without its request id: what a client without a key learns.
fn shape(response: &TestResponse) -> String {
    let mut problem = response.json();
    problem.as_object_mut().expect("a problem object").remove("requestId");
    problem.to_string()
}

async fn every_route_but_the_health_checks_needs_a_valid_key() {
    let app = app().await;
    let mut targets = documented_operations(&app).await;
    let public: BTreeSet<&str> = ["/healthz", "/readyz"].into();
    targets.retain(|(_, path)| !public.contains(path.as_str()));
    // Undocumented paths and methods answer the same 401 before routing: without a key nothing
    // says which routes exist.
    let unknown = [
        ("GET", "/"),
        ("GET", "/nowhere"),
        ("POST", "/v1/adapter/noSuchMethod"),
        ("GET", "/v1/users"),
        ("GET", "/healthz/"),
        ("GET", "//healthz"),
        ("GET", "/HEALTHZ"),
        ("PUT", "/v1/sessions/rotate"),
        ("GET", "/v1/adapter/getUser"),
        ("DELETE", "/openapi.json"),
        ("PATCH", "/metrics"),
        ("OPTIONS", "/v1/stats/sessions"),
    ];
    targets.extend(unknown.iter().map(|(m, p)| (m.to_string(), p.to_string())));

    let wrong = wrong_credentials();
    let mut shapes = BTreeSet::new();
    for (method, path) in &targets {
        for authorization in &wrong {
            let response = app.send(request(method, path, authorization.as_deref())).await;
            assert_unauthenticated(&response, &format!("{method} {path} with {authorization:?}"));
            shapes.insert(shape(&response));
        }
    }
    assert_eq!(shapes.len(), 1, "every 401 is the same answer: {shapes:?}");
    assert!(targets.len() * wrong.len() > 1_000, "{} requests", targets.len() * wrong.len());

    // Both keys of a rotation get past the check on every documented route (and the scheme is
    // case-insensitive, as RFC 9110 says); what answers then is the route.
    for (method, path) in documented_operations(&app).await {
        for authorization in [format!("Bearer {OLD}"), format!("bearer {NEW}"), format!("BEARER  {NEW} ")] {
            let response = app.send(request(&method, &path, Some(&authorization))).await;
            assert_ne!(response.status, StatusCode::UNAUTHORIZED, "{method} {path} {authorization}: {}", response.text);
            assert!(!response.status.is_server_error(), "{method} {path}: {}", response.text);
        }
    }
    // The health checks answer without a key, and a wrong one does not matter there.
    for path in public {
        for authorization in [None, Some("Bearer wrong-key")] {
            let response = app.send(request("GET", path, authorization)).await;
            assert_eq!(response.status, StatusCode::OK, "{path} {authorization:?}: {}", response.text);
        }
    }
}

/// `--api-key-file`: one key per line, `#` comments and blank lines skipped, surrounding spaces
/// trimmed; its keys add to those of `AUTHBRIDGE_API_KEYS`, and all are valid at once.
fn keys_from_a_file_and_the_environment_are_all_valid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    std::fs::write(&file, format!("# rotation: {OLD} goes after the deploy\n\n  {OLD}  \r\n{NEW}\n   \n# the end\n"))
        .unwrap();
    let file = file.to_str().unwrap();
    let server =
        Server::start_with(dir.path(), &["--api-key-file", file], &[("AUTHBRIDGE_API_KEYS", "env-key-19f2c4d8")]);
    let status = |key: &str| {
        let authorization = format!("Bearer {key}");
        server
            .request(
                "POST",
                "/v1/adapter/getUser",
                &[("Authorization", &authorization), ("Content-Type", "application/json")],
                r#"{"id":"u"}"#,
            )
            .0
    };
    for key in [OLD, NEW, "env-key-19f2c4d8"] {
        assert_eq!(status(key), 200, "{key} is accepted");
    }
    for key in ["# rotation: old-key-4f1c2a9e7b goes after the deploy", "# the end", "third-key", "", "env-key"] {
        assert_eq!(status(key), 401, "{key:?} is refused");
    }
    let log = server.stop();
    for key in [OLD, NEW, "env-key-19f2c4d8"] {
        assert!(!log.contains(key), "a key reached the log:\n{log}");
    }
}

/// A key file that cannot be read or holds no key stops start-up with exit code 2 and one line
/// that names the file, before anything listens; an API key given as well does not excuse it.
fn a_bad_key_file_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("empty"), "").unwrap();
    std::fs::write(path("comments"), "# no key yet\n\n   \n#another\n").unwrap();
    std::fs::write(path("binary"), [0xff, 0xfe, b'k', b'\n']).unwrap();
    std::fs::create_dir(path("directory")).unwrap();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        ("empty", &[], "holds no key"),
        ("comments", &[], "holds no key"),
        ("comments", &[("AUTHBRIDGE_API_KEYS", "some-key")], "holds no key"),
        ("binary", &[], "cannot read --api-key-file"),
        ("directory", &[], "cannot read --api-key-file"),
        ("missing", &[], "cannot read --api-key-file"),
    ];
    for (name, env, message) in cases {
        let mut command = command(&["serve", "--bind", "127.0.0.1:0", "--api-key-file", &path(name)]);
        command.current_dir(dir.path());
        for (k, v) in env {
            command.env(k, v);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("authbridge: ")).collect();
        assert_eq!(errors.len(), 1, "{name}: one error line: {stderr}");
        assert!(errors[0].contains(message) && errors[0].contains(&path(name)), "{name}: {stderr}");
    }
    assert!(!dir.path().join("authbridge.db").exists(), "nothing was started");
}

/// The document says which routes need the key: all but the health checks.
async fn the_document_marks_only_the_health_checks_public() {
    let app = app().await;
    let document = app.send(request("GET", "/openapi.json", Some(&format!("Bearer {NEW}")))).await.json();
    assert_eq!(document["security"], serde_json::json!([{ "bearerAuth": [] }]));
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let public = operation.get("security") == Some(&Value::Array(vec![]));
            assert_eq!(public, path == "/healthz" || path == "/readyz", "{method} {path}");
            let documents_401 = operation["responses"].get("401").is_some();
            assert_eq!(documents_401, !public, "{method} {path} lists 401 exactly when it needs a key");
        }
    }
}

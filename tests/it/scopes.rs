//! Named, scoped API keys: each route lets in the keys that hold one of its scopes, answers 403
//! `forbidden` naming them to any other valid key, and the same 401 as ever without a valid key;
//! old-form keys hold every scope; the request log names the key, never shows it.

use std::collections::BTreeMap;

use authbridge::Settings;
use authbridge::auth::{ApiKey, ApiKeys, Scope};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use strum::IntoEnumIterator;

use crate::binary::Server;
use crate::support::{Backend, TestApp};

crate::harness::tests! {
    async: every_route_answers_each_scope_as_declared;
    sync: the_log_names_the_key_and_never_shows_it;
}

/// The scope the issue gives each route (written here independently of the declarations, so that a
/// wrong declaration fails), by operation id.
fn expected_scopes(operation_id: &str) -> Vec<Scope> {
    match operation_id {
        "getSessionAndUser" => vec![Scope::Adapter, Scope::SessionRead],
        "rotateSession" | "listUserSessions" | "deleteUserSessions" | "deleteSessionById" | "userSessionStats"
        | "sessionStats" => vec![Scope::SessionsManage],
        "purgeExpired" => vec![Scope::Maintenance],
        "metrics" | "openapi" => vec![Scope::Ops],
        _ => vec![Scope::Adapter],
    }
}

/// A key holding exactly `scope`, named after it.
fn key_of(scope: Scope) -> String {
    format!("key-for-{}-0c9e1f", scope.as_str().replace(':', "-"))
}

const EVERY_SCOPE: &str = "unscoped-key-5b7d2a";

fn request(method: &str, path: &str, key: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = if method == "POST" { Body::from("{}") } else { Body::empty() };
    request.body(body).unwrap()
}

async fn every_route_answers_each_scope_as_declared() {
    let mut keys: Vec<ApiKey> = Scope::iter()
        .map(|scope| format!("{} {} {}", scope.as_str().replace(':', "-"), scope.as_str(), key_of(scope)))
        .map(|line| line.parse().unwrap())
        .collect();
    keys.push(EVERY_SCOPE.parse().unwrap());
    let settings = Settings { api_keys: keys.into_iter().collect::<ApiKeys>(), ..Settings::default() };
    let app = TestApp::with_settings(Backend::Sqlite, settings).await;
    let document = app.send(request("GET", "/openapi.json", Some(&key_of(Scope::Ops)))).await;
    assert_eq!(document.status, StatusCode::OK, "{}", document.text);
    let document = document.json();

    let mut allowed_by_scope: BTreeMap<&str, usize> = BTreeMap::new();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if path == "/healthz" || path == "/readyz" {
            continue;
        }
        let filled = path.replace("{userId}", "some-user").replace("{sessionId}", "some-session");
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let method = method.to_uppercase();
            let id = operation["operationId"].as_str().unwrap();
            let expected = expected_scopes(id);
            // The document shows each route's scopes as its security requirements.
            let documented: Vec<&str> = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{id} lists its security"))
                .iter()
                .flat_map(|requirement| requirement["bearerAuth"].as_array().unwrap())
                .map(|scope| scope.as_str().unwrap())
                .collect();
            let wanted: Vec<&str> = expected.iter().map(|scope| scope.as_str()).collect();
            assert_eq!(documented, wanted, "{id}");

            for key in [None, Some("wrong-key-00000")] {
                let response = app.send(request(&method, &filled, key)).await;
                assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{id} {key:?}: {}", response.text);
            }
            let response = app.send(request(&method, &filled, Some(EVERY_SCOPE))).await;
            let answered = response.status;
            assert!(
                ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answered) && !answered.is_server_error(),
                "{id}, old-form key: {}",
                response.text
            );
            for scope in Scope::iter() {
                let response = app.send(request(&method, &filled, Some(&key_of(scope)))).await;
                let context = format!("{id} with a {} key: {}", scope.as_str(), response.text);
                if expected.contains(&scope) {
                    // What answers then is the route, the same as for a key with every scope.
                    assert_eq!(response.status, answered, "{context}");
                    *allowed_by_scope.entry(scope.as_str()).or_default() += 1;
                } else {
                    assert_eq!(response.status, StatusCode::FORBIDDEN, "{context}");
                    let problem = response.json();
                    assert_eq!(problem["code"], "forbidden", "{context}");
                    assert_eq!(problem["scope"], wanted.join(" "), "{context}");
                    assert!(problem["detail"].as_str().unwrap().contains(wanted[0]), "{context}");
                    let challenge = response.header("www-authenticate").unwrap_or_default();
                    assert!(challenge.contains("insufficient_scope"), "{context}: {challenge}");
                }
            }
        }
    }
    assert!(operations >= 28, "{operations} operations");
    let counts: Vec<(&str, usize)> = allowed_by_scope.into_iter().collect();
    assert_eq!(
        counts,
        [("adapter", 19), ("maintenance", 1), ("ops", 2), ("session:read", 1), ("sessions:manage", 6)],
        "the issue's scopes: the 19 adapter methods, getSessionAndUser, the session routes, purge, ops"
    );
    // A scoped key still meets an unknown route's 404, a key-less caller its 401.
    let unknown = app.send(request("POST", "/v1/adapter/noSuchMethod", Some(&key_of(Scope::Ops)))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
}

/// A key file with named, scoped keys and an old-form key: the request log line names the key
/// that was used (`-` without one), and no key ever reaches the log.
fn the_log_names_the_key_and_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    let checker = "checker-key-7e3f0a91";
    let old = "old-form-key-1d6b44c2";
    let admin = "admin-key-93ab2c7d";
    std::fs::write(&file, format!("checker session:read {checker}\n{old}\nadmin ops,maintenance {admin}\n")).unwrap();
    let server = Server::start_with(dir.path(), &["--api-key-file", file.to_str().unwrap()], &[]);
    let call = |key: &str, path: &str| {
        let authorization = format!("Bearer {key}");
        let headers = [("Authorization", authorization.as_str()), ("Content-Type", "application/json")];
        let body = if path.contains("/adapter/") { r#"{"sessionToken":"t"}"# } else { "{}" };
        server.request("POST", path, &headers, body).0
    };
    assert_eq!(call(checker, "/v1/adapter/getSessionAndUser"), 200);
    assert_eq!(call(checker, "/v1/adapter/deleteSession"), 403);
    assert_eq!(call(old, "/v1/adapter/getSessionAndUser"), 200);
    assert_eq!(call(admin, "/v1/maintenance/purge-expired"), 200);
    assert_eq!(call("no-such-key", "/v1/adapter/getSessionAndUser"), 401);
    let log = server.stop();
    for key in [checker, old, admin] {
        assert!(!log.contains(key), "a key reached the log:\n{log}");
    }
    let request_lines = |route: &str, status: u16| -> Vec<String> {
        log.lines()
            .filter(|line| line.contains("authbridge::request") && line.contains(route))
            .filter(|line| line.contains(&format!("status={status}")))
            .map(str::to_owned)
            .collect()
    };
    let expect = |route: &str, status: u16, names: &[&str]| {
        let lines = request_lines(route, status);
        assert_eq!(lines.len(), names.len(), "{route} {status}:\n{log}");
        for name in names {
            assert!(
                lines.iter().any(|line| line.contains(&format!("key=\"{name}\""))),
                "{route} {status} {name}:\n{log}"
            );
        }
    };
    expect("/v1/adapter/getSessionAndUser", 200, &["checker", authbridge::auth::UNNAMED]);
    expect("/v1/adapter/deleteSession", 403, &["checker"]);
    expect("/v1/maintenance/purge-expired", 200, &["admin"]);
    expect("/v1/adapter/getSessionAndUser", 401, &["-"]);
}

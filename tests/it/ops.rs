//! Operations: the OpenAPI document against the router, and Prometheus metrics (request logs
//! are tested on the real binary in `cli.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use authbridge::Settings;
use authbridge::auth::ApiKeys;
use authbridge::db::PoolOptions;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::support::{BACKENDS, Backend, Scratch, TestApp, ready_db_with};

crate::harness::tests! {
    async:
        openapi_documents_exactly_the_routes_the_router_serves,
        openapi_describes_bodies_answers_and_problems_as_api_md,
        metrics_and_openapi_need_the_key_health_checks_do_not;
    async on BACKENDS: metrics_count_requests_by_route_template, metrics_show_live_pool_figures, metrics_count_purged_rows;
}

const KEY: &str = "ops-test-key";

fn keyed() -> Settings {
    Settings { api_keys: ApiKeys::new([KEY]), ..Settings::default() }
}

/// An app that wants [`KEY`], over `db`, whose client sends the key.
fn keyed_over(db: authbridge::db::Db, backend: Backend, scratch: Scratch) -> TestApp {
    let mut app = TestApp::over(db, keyed(), backend, scratch);
    app.client = app.with_key(KEY);
    app
}

/// An app that wants [`KEY`] on a fresh database, whose client sends the key.
async fn keyed_app(backend: Backend) -> TestApp {
    let mut app = TestApp::with_settings(backend, keyed()).await;
    app.client = app.with_key(KEY);
    app
}

// ---------------------------------------------------------------------------------------------
// OpenAPI

async fn openapi(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()
}

/// The methods a path takes, asked of the router itself: a method it does not take answers
/// 405 with `Allow`.
async fn allowed_methods(app: &TestApp, path: &str) -> BTreeSet<String> {
    let response = app.send(keyed_request("TRACE", path)).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{path} takes any method: {}", response.text);
    let allow = response.header("allow").unwrap_or_else(|| panic!("405 without Allow on {path}"));
    allow.split(',').map(|m| m.trim().to_ascii_lowercase()).filter(|m| !m.is_empty() && m != "head").collect()
}

fn keyed_request(method: &str, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap()
}

/// A concrete path for a template: `{x}` becomes a harmless value.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| if segment.starts_with('{') { "some-id" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// The methods of the Auth.js `Adapter` interface: the ones `bad_input` has a valid body for.
fn authjs_methods() -> BTreeSet<&'static str> {
    crate::bad_input::valid_bodies("some-user").into_iter().map(|(method, _)| method).collect()
}

/// Every operation of the served document reaches a handler of the live router (not its 404 for
/// unknown paths, not a 405), each documented path takes exactly the documented methods, and the
/// adapter's paths are the Auth.js methods, which an unknown method's 404 lists.
async fn openapi_documents_exactly_the_routes_the_router_serves() {
    let app = keyed_app(Backend::Sqlite).await;
    let doc = openapi(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1: {}", doc["openapi"]);

    let mut documented: Vec<(String, BTreeSet<String>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let methods = item.as_object().unwrap().keys().filter(|m| HTTP_METHODS.contains(&m.as_str())).cloned();
        documented.push((path.clone(), methods.collect()));
    }
    for (template, methods) in &documented {
        let path = concrete(template);
        for method in methods {
            let response = app.send(keyed_request(&method.to_ascii_uppercase(), &path)).await;
            let unrouted = response.status == StatusCode::METHOD_NOT_ALLOWED
                || (response.status == StatusCode::NOT_FOUND
                    && response.json()["detail"] == "no route matches this path");
            assert!(!unrouted, "{method} {template} is documented but not served: {}", response.text);
        }
        assert_eq!(&allowed_methods(&app, &path).await, methods, "the methods {template} takes");
    }

    let adapter: Vec<&str> = documented.iter().filter_map(|(path, _)| path.strip_prefix("/v1/adapter/")).collect();
    assert_eq!(adapter.iter().copied().collect::<BTreeSet<_>>(), authjs_methods());
    let response = app.call("noSuchMethod", json!({})).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.text);
    let detail = response.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.ends_with(&format!("the methods are: {}", adapter.join(", "))), "{detail}");
    let wrong_method = app.send(keyed_request("GET", "/v1/adapter/noSuchMethod")).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED, "{}", wrong_method.text);
}

const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Follows a local `$ref` (or returns the schema itself).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(pointer) => {
            let target = doc.pointer(pointer.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling {pointer}"));
            resolve(doc, target)
        }
        None => schema,
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn accepts_null(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    let is_null = |s: &Value| s["type"] == "null" || s["type"].as_array().is_some_and(|t| t.contains(&json!("null")));
    is_null(schema) || schema["oneOf"].as_array().is_some_and(|items| items.iter().any(is_null))
}

async fn openapi_describes_bodies_answers_and_problems_as_api_md() {
    let app = keyed_app(Backend::Sqlite).await;
    let doc = openapi(&app).await;

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "dangling $ref {r}");
    }

    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!((scheme["type"].as_str(), scheme["scheme"].as_str()), (Some("http"), Some("bearer")));
    assert_eq!(doc["security"], json!([{ "bearerAuth": [] }]));
    for public in ["/healthz", "/readyz"] {
        assert_eq!(doc["paths"][public]["get"]["security"], json!([]), "{public} needs no key");
    }
    for keyed in ["/metrics", "/openapi.json"] {
        let security = &doc["paths"][keyed]["get"]["security"];
        assert_eq!(security, &json!([{ "bearerAuth": ["ops"] }]), "{keyed} needs a key with the ops scope");
    }

    // API.md: where Auth.js expects null, the answer is 200 with body null.
    let may_be_null = [
        "getUser",
        "getUserByEmail",
        "getUserByAccount",
        "deleteUser",
        "unlinkAccount",
        "getSessionAndUser",
        "updateSession",
        "deleteSession",
        "useVerificationToken",
        "getAccount",
        "getAuthenticator",
    ];
    for method in authjs_methods() {
        let op = &doc["paths"][format!("/v1/adapter/{method}")]["post"];
        assert!(op.is_object(), "{method} is documented");
        let ok = &op["responses"]["200"];
        assert!(ok["headers"]["X-Request-Id"].is_object(), "{method}: X-Request-Id");
        let answer = &ok["content"]["application/json"]["schema"];
        assert_eq!(accepts_null(&doc, answer), may_be_null.contains(&method), "{method}: null answer");

        let body = resolve(&doc, &op["requestBody"]["content"]["application/json"]["schema"]);
        assert_eq!(body["additionalProperties"], json!(false), "{method}: unknown top-level keys are a 400");
        assert!(body["properties"].as_object().is_some_and(|p| !p.is_empty()), "{method}: body properties");

        for status in ["400", "401", "415", "413", "500", "503"] {
            let problem = resolve(&doc, &op["responses"][status]);
            assert!(
                problem["content"]["application/problem+json"]["schema"].is_object(),
                "{method} {status}: a problem+json answer"
            );
            assert!(problem["headers"]["X-Request-Id"].is_object(), "{method} {status}: X-Request-Id");
        }
        let reports_ignored = ["createUser", "updateUser", "linkAccount"].contains(&method);
        assert_eq!(ok["headers"]["AuthBridge-Ignored-Fields"].is_object(), reports_ignored, "{method}");
    }
    let responses = |method: &str| doc["paths"][format!("/v1/adapter/{method}")]["post"]["responses"].clone();
    for (method, status) in [
        ("linkAccount", "409"),
        ("linkAccount", "422"),
        ("createSession", "422"),
        ("createSession", "409"),
        ("updateSession", "422"),
        ("updateUser", "404"),
        ("updateAuthenticatorCounter", "404"),
        ("createAuthenticator", "409"),
        ("createVerificationToken", "409"),
    ] {
        assert!(responses(method)[status].is_object(), "{method} documents {status}");
    }
    assert!(resolve(&doc, &responses("getUser")["401"])["headers"]["WWW-Authenticate"].is_object());
    assert!(resolve(&doc, &responses("getUser")["503"])["headers"]["Retry-After"].is_object());

    // Entity objects tolerate unknown keys (dropped and reported); the others reject them.
    let property =
        |schema: &str, name: &str| resolve(&doc, &doc["components"]["schemas"][schema]["properties"][name]).clone();
    for (wrapper, entity, tolerant) in [
        ("UserArg", "user", true),
        ("AccountArg", "account", true),
        ("NewSessionArg", "session", false),
        ("VerificationTokenArg", "verificationToken", false),
        ("AuthenticatorArg", "authenticator", false),
    ] {
        let object = property(wrapper, entity);
        assert_eq!(object["additionalProperties"] == json!(false), !tolerant, "{wrapper}.{entity}: {object}");
    }
    // The wire names of API.md, not the Rust ones.
    let account = &doc["components"]["schemas"]["Account"]["properties"];
    for name in ["userId", "type", "providerAccountId", "refresh_token", "expires_at", "session_state"] {
        assert!(account[name].is_object(), "Account.{name}");
    }
    let authenticator = &doc["components"]["schemas"]["Authenticator"]["properties"];
    assert!(authenticator["credentialID"].is_object() && authenticator["credentialBackedUp"].is_object());
    // Session management (API.md): null where a session may be missing; path and query parameters.
    let answer = |path: &str, method: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"].clone()
    };
    assert!(accepts_null(&doc, &answer("/v1/sessions/rotate", "post")));
    assert!(accepts_null(&doc, &answer("/v1/sessions/{sessionId}", "delete")));
    assert!(!accepts_null(&doc, &answer("/v1/users/{userId}/sessions", "delete")));
    let parameters: Vec<(String, String)> = doc["paths"]["/v1/users/{userId}/sessions"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["in"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [("userId", "path"), ("active", "query"), ("limit", "query")];
    assert_eq!(parameters, expected.map(|(n, i)| (n.to_owned(), i.to_owned())));
    let purge = resolve(
        &doc,
        &doc["paths"]["/v1/maintenance/purge-expired"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    assert_eq!(purge["additionalProperties"], json!(false));

    // The documented bounds are the enforced ones.
    let max_age = doc["components"]["schemas"]["SessionLookupArg"]["properties"]["maxAge"]["maximum"].as_u64().unwrap();
    let lookup = |max_age: u64| json!({ "sessionToken": "no-such-token", "maxAge": max_age, "updateAge": 0 });
    assert_eq!(app.call("getSessionAndUser", lookup(max_age)).await.status, StatusCode::OK);
    assert_eq!(app.call("getSessionAndUser", lookup(max_age + 1)).await.status, StatusCode::BAD_REQUEST);
    let limit = &doc["paths"]["/v1/users/{userId}/sessions"]["get"]["parameters"][2]["schema"];
    let (lowest, highest) = (limit["minimum"].as_u64().unwrap(), limit["maximum"].as_u64().unwrap());
    for (value, status) in [
        (lowest - 1, StatusCode::BAD_REQUEST),
        (lowest, StatusCode::OK),
        (highest, StatusCode::OK),
        (highest + 1, StatusCode::BAD_REQUEST),
    ] {
        let response = app.get(&format!("/v1/users/u/sessions?limit={value}")).await;
        assert_eq!(response.status, status, "limit={value}: {}", response.text);
    }
    let user = &doc["components"]["schemas"]["User"];
    assert!(accepts_null(&doc, &user["properties"]["emailVerified"]), "User.emailVerified is nullable");
    assert_eq!(resolve(&doc, &user["properties"]["id"])["type"], "string");
}

async fn metrics_and_openapi_need_the_key_health_checks_do_not() {
    let app = TestApp::with_settings(Backend::Sqlite, keyed()).await;
    for path in ["/metrics", "/openapi.json"] {
        for (key, client) in [(None, app.client.clone()), (Some("wrong"), app.with_key("wrong"))] {
            let response = client.get(path).await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path} {key:?}");
            assert_eq!(response.header("content-type"), Some("application/problem+json"));
        }
        assert_eq!(app.with_key(KEY).get(path).await.status, StatusCode::OK, "{path}");
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.get(path).await.status, StatusCode::OK, "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// The value of one series, e.g. `name{a="b",c="d"}`; labels in any order.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            return None;
        }
        let mut found: Vec<(String, String)> = series_labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once("=\"").map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned())))
            .collect();
        found.sort();
        let mut wanted: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        wanted.sort();
        (found == wanted).then(|| value.parse().expect("a number"))
    })
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert!(response.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    response.text
}

async fn metrics_count_requests_by_route_template(backend: Backend) {
    let app = keyed_app(backend).await;
    // The recorder is shared by every test in this binary: compare before and after.
    // Each series also names the API key (the app's one key, given in the old form).
    let key = ("key", authbridge::auth::UNNAMED);
    let ok = [("method", "POST"), ("route", "/v1/adapter/getUserByEmail"), ("status_class", "2xx"), key];
    let bad = [("method", "POST"), ("route", "/v1/adapter/getUserByEmail"), ("status_class", "4xx"), key];
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status_class", "4xx"), key];
    let before = scrape(&app).await;
    let count =
        |text: &str, labels: &[(&str, &str)]| sample(text, "authbridge_http_requests_total", labels).unwrap_or(0.0);

    let email = "metrics-secret-email@example.com";
    app.call("createUser", json!({ "user": { "email": email } })).await;
    for _ in 0..3 {
        assert_eq!(app.call("getUserByEmail", json!({ "email": email })).await.status, StatusCode::OK);
    }
    assert_eq!(app.call("getUserByEmail", json!({ "email": "" })).await.status, StatusCode::BAD_REQUEST);
    let raw_path = "/v1/users/metrics-secret-user-id/nothing-here";
    assert_eq!(app.get(raw_path).await.status, StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    assert!(count(&after, &ok) >= count(&before, &ok) + 3.0, "{after}");
    assert!(count(&after, &bad) > count(&before, &bad), "{after}");
    assert!(count(&after, &unmatched) > count(&before, &unmatched), "{after}");
    let buckets = [("method", "POST"), ("route", "/v1/adapter/getUserByEmail"), ("le", "+Inf")];
    let histogram =
        |text: &str| sample(text, "authbridge_http_request_duration_seconds_bucket", &buckets).unwrap_or(0.0);
    assert!(histogram(&after) >= histogram(&before) + 4.0, "latency histogram per route:\n{after}");
    assert!(after.contains("# TYPE authbridge_http_request_duration_seconds histogram"));
    for secret in ["metrics-secret", "example.com", KEY] {
        assert!(!after.contains(secret), "{secret} reached /metrics");
    }
    assert_eq!(sample(&after, "authbridge_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    for table in ["sessions", "verification_tokens"] {
        assert!(sample(&after, "authbridge_purged_rows_total", &[("table", table)]).is_some(), "{table}: {after}");
    }
}

/// Pool figures are read at scrape time from the scraped app's own pool.
async fn metrics_show_live_pool_figures(backend: Backend) {
    let (scratch, url) = Scratch::create(backend).await;
    let options = PoolOptions {
        max_size: 2,
        wait_timeout: std::time::Duration::from_secs(30),
        sqlite_busy_timeout: std::time::Duration::from_secs(10),
    };
    let db = ready_db_with(&url, &options, None).await;
    let app = Arc::new(keyed_over(db.clone(), backend, scratch));
    let pool = |text: &str, name: &str| sample(text, name, &[]).unwrap_or_else(|| panic!("{name} missing:\n{text}"));

    let idle = scrape(&app).await;
    assert_eq!(pool(&idle, "authbridge_db_pool_max_connections"), 2.0);
    assert_eq!(pool(&idle, "authbridge_db_pool_connections_in_use"), 0.0);
    assert_eq!(pool(&idle, "authbridge_db_pool_waiting_requests"), 0.0);

    // Take every connection, then let a request queue behind them.
    let held = crate::support::hold_connections(&db, 2).await.expect("connections");
    let busy = scrape(&app).await;
    assert_eq!(pool(&busy, "authbridge_db_pool_connections"), 2.0, "{busy}");
    assert_eq!(pool(&busy, "authbridge_db_pool_connections_in_use"), 2.0, "{busy}");
    let queued = {
        let app = app.clone();
        tokio::spawn(async move { app.call("getUser", json!({ "id": "nobody" })).await.status })
    };
    let mut waiting = 0.0;
    for _ in 0..500 {
        waiting = pool(&scrape(&app).await, "authbridge_db_pool_waiting_requests");
        if waiting >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(waiting, 1.0, "the queued request shows as waiting");
    drop(held);
    assert_eq!(queued.await.unwrap(), StatusCode::OK);
    let after = scrape(&app).await;
    assert_eq!(pool(&after, "authbridge_db_pool_waiting_requests"), 0.0);
    assert_eq!(pool(&after, "authbridge_db_pool_connections_in_use"), 0.0);
}

/// The purge's counter reaches /metrics, labelled by table.
async fn metrics_count_purged_rows(backend: Backend) {
    let app = keyed_app(backend).await;
    let purged = |text: &str, table: &str| sample(text, "authbridge_purged_rows_total", &[("table", table)]).unwrap();
    let before = scrape(&app).await;
    let user = app.call("createUser", json!({ "user": {} })).await.json()["id"].clone();
    for token in ["purge-a", "purge-b"] {
        let session =
            json!({ "session": { "sessionToken": token, "userId": user, "expires": "2001-01-01T00:00:00Z" } });
        assert_eq!(app.call("createSession", session).await.status, StatusCode::OK);
    }
    let token = json!({ "verificationToken": { "identifier": "i", "token": "t", "expires": "2001-01-01T00:00:00Z" } });
    assert_eq!(app.call("createVerificationToken", token).await.status, StatusCode::OK);
    let response = app.post("/v1/maintenance/purge-expired", &json!({})).await;
    assert_eq!(response.json(), json!({ "sessionsDeleted": 2, "verificationTokensDeleted": 1 }));
    let after = scrape(&app).await;
    // Other tests purge too, in this same process: at least ours are counted.
    assert!(purged(&after, "sessions") >= purged(&before, "sessions") + 2.0, "{after}");
    assert!(purged(&after, "verification_tokens") >= purged(&before, "verification_tokens") + 1.0, "{after}");
}

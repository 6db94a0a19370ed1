//! Runs the contract fixtures of `tests/fixtures/*.json` (the format is described in
//! `tests/fixtures/README.md`) against the real router on every backend the fixture declares, and
//! again on each backend's Prisma `relationMode = "prisma"` schema, which has no foreign keys: one
//! test per fixture file and backend, generated from the files at run time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use authbridge::Settings;
use authbridge::auth::ApiKeys;
use authbridge::config::UnknownFields;
use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use crate::harness::{Test, block_on};
use crate::support::{Backend, Schema, TestApp, TestResponse};

crate::harness::tests! {
    sync: matchers_work;
}

/// Where the fixtures run: each backend with the migrations' schema (SQLite also in Prisma 6's
/// integer-millisecond dates), and each without foreign keys.
const TARGETS: [(Backend, Schema); 9] = [
    (Backend::Sqlite, Schema::Migrations),
    (Backend::SqliteUnixMs, Schema::Migrations),
    (Backend::Postgres, Schema::Migrations),
    (Backend::PgBouncer, Schema::Migrations),
    (Backend::Mysql, Schema::Migrations),
    (Backend::Sqlite, Schema::WithoutForeignKeys),
    (Backend::Postgres, Schema::WithoutForeignKeys),
    (Backend::PgBouncer, Schema::WithoutForeignKeys),
    (Backend::Mysql, Schema::WithoutForeignKeys),
];

/// The backend names a fixture's `backends` may list.
const PROVIDERS: [&str; 3] = ["sqlite", "postgresql", "mysql"];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture file's name (without `.json`), in order.
fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn read_fixture(name: &str) -> Result<Value, String> {
    let file = format!("{name}.json");
    let text = std::fs::read_to_string(fixtures_dir().join(&file)).map_err(|e| format!("{file}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))
}

/// The providers an entry (the whole file, or one step) is restricted to by its `backends`, or
/// every one; a name that is no provider is an error.
fn providers(entry: &Value) -> Result<Vec<&'static str>, String> {
    let Some(listed) = entry.get("backends") else { return Ok(PROVIDERS.to_vec()) };
    let listed = listed.as_array().ok_or("`backends` is not an array")?;
    let provider = |b: &Value| PROVIDERS.into_iter().find(|p| b == p);
    listed.iter().map(|b| provider(b).ok_or(format!("`backends` has {b}, not one of {PROVIDERS:?}"))).collect()
}

/// One test per fixture file and backend it runs on (a file that cannot be read, or that lists
/// an unknown backend, is one failing test).
pub fn fixture_tests() -> Vec<Test> {
    let mut tests = Vec::new();
    for name in fixture_names() {
        let path = format!("contract::{name}");
        match read_fixture(&name).and_then(|fixture| providers(&fixture)) {
            Ok(on) => {
                for target in TARGETS.into_iter().filter(|(backend, _)| on.contains(&backend.provider())) {
                    let name = name.clone();
                    tests.push(Test::on(target, &path, &[], None, move || block_on(run_fixture(target, &name))));
                }
            }
            Err(why) => tests.push(Test::new(&path, &[], None, move || panic!("{why}"))),
        }
    }
    tests
}

/// The fixtures that run on `backend`.
pub fn fixtures_on(backend: Backend) -> Vec<String> {
    let runs_there = |name: &String| {
        let fixture = read_fixture(name).unwrap_or_else(|e| panic!("{e}"));
        providers(&fixture).unwrap_or_else(|e| panic!("{name}: {e}")).contains(&backend.provider())
    };
    fixture_names().into_iter().filter(runs_there).collect()
}

struct Run {
    api_key: Option<String>,
    vars: Map<String, Value>,
    now: DateTime<Utc>,
    file: String,
}

impl Run {
    /// Replaces `{{name.path}}` and `{{now±Ns}}` placeholders in a request body.
    fn substitute(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => match placeholder(s) {
                Some(inner) => {
                    self.resolve(inner).unwrap_or_else(|| panic!("{}: cannot resolve {{{{{inner}}}}}", self.file))
                }
                None => value.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.substitute(v)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.substitute(v))).collect()),
            other => other.clone(),
        }
    }

    /// Replaces every `{{...}}` inside a request path with the value's text.
    fn interpolate(&self, path: &str) -> String {
        let (mut out, mut rest) = (String::new(), path);
        while let Some(start) = rest.find("{{") {
            let end =
                rest[start..].find("}}").map(|e| start + e).unwrap_or_else(|| panic!("{}: unclosed {{{{", self.file));
            let inner = &rest[start + 2..end];
            let value = self.resolve(inner).unwrap_or_else(|| panic!("{}: cannot resolve {{{{{inner}}}}}", self.file));
            out.push_str(&rest[..start]);
            out.push_str(value.as_str().map_or_else(|| value.to_string(), str::to_owned).as_str());
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn resolve(&self, inner: &str) -> Option<Value> {
        if let Some(at) = relative_time(self.now, inner) {
            return Some(Value::String(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()));
        }
        if let Some(repeat) = inner.strip_prefix("repeat:") {
            let (count, text) = repeat.split_once(':')?;
            return Some(Value::String(text.repeat(count.parse().ok()?)));
        }
        let mut parts = inner.split('.');
        let mut current = self.vars.get(parts.next()?)?;
        for part in parts {
            current = match current {
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                other => other.get(part)?,
            };
        }
        Some(current.clone())
    }

    /// Compares an actual JSON value with an expected one that may hold matchers.
    fn matches(&self, expected: &Value, actual: &Value, path: &str, errors: &mut Vec<String>) {
        if let Value::String(s) = expected
            && let Some(inner) = placeholder(s)
        {
            if let Err(e) = self.match_placeholder(inner, actual) {
                errors.push(format!("{path}: {e} (got {actual})"));
            }
            return;
        }
        match (expected, actual) {
            (Value::Object(e), Value::Object(a)) => {
                let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
                for key in keys {
                    match (e.get(key), a.get(key)) {
                        (Some(ev), Some(av)) => self.matches(ev, av, &format!("{path}.{key}"), errors),
                        (Some(_), None) => errors.push(format!("{path}.{key}: missing")),
                        (None, Some(av)) => errors.push(format!("{path}.{key}: unexpected {av}")),
                        (None, None) => unreachable!(),
                    }
                }
            }
            (Value::Array(e), Value::Array(a)) => {
                if e.len() != a.len() {
                    errors.push(format!("{path}: expected {} items, got {}", e.len(), a.len()));
                    return;
                }
                for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                    self.matches(ev, av, &format!("{path}[{i}]"), errors);
                }
            }
            (e, a) if e == a => {}
            (e, a) => errors.push(format!("{path}: expected {e}, got {a}")),
        }
    }

    fn match_placeholder(&self, inner: &str, actual: &Value) -> Result<(), String> {
        let text = actual.as_str();
        match inner {
            "any" => Ok(()),
            "cuid" => text.filter(|t| is_cuid(t)).map(|_| ()).ok_or_else(|| "expected a cuid".into()),
            "token" => text
                .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
                .map(|_| ())
                .ok_or_else(|| "expected 64 lower-case hex digits".into()),
            "date" => text.and_then(parse_wire_date).map(|_| ()).ok_or_else(|| "expected a wire date".into()),
            _ => {
                if let Some(target) = inner.strip_prefix("date~") {
                    let want = relative_time(self.now, target).ok_or_else(|| format!("bad matcher {inner}"))?;
                    let got = text.and_then(parse_wire_date).ok_or("expected a wire date")?;
                    // The fixture's clock and the server's differ by the time the steps take.
                    let drift = (got - want).num_seconds().abs();
                    return if drift <= 30 { Ok(()) } else { Err(format!("expected about {want}")) };
                }
                let want = self.resolve(inner).ok_or_else(|| format!("cannot resolve {{{{{inner}}}}}"))?;
                let mut errors = Vec::new();
                self.matches(&want, actual, "", &mut errors);
                if errors.is_empty() { Ok(()) } else { Err(format!("expected {want}")) }
            }
        }
    }
}

fn placeholder(s: &str) -> Option<&str> {
    s.strip_prefix("{{").and_then(|s| s.strip_suffix("}}"))
}

fn is_cuid(s: &str) -> bool {
    s.len() == 25 && s.starts_with('c') && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// The exact wire format: `YYYY-MM-DDTHH:MM:SS.sssZ`.
fn parse_wire_date(s: &str) -> Option<DateTime<Utc>> {
    let ok = s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.';
    ok.then(|| DateTime::parse_from_rfc3339(s).ok()).flatten().map(|d| d.with_timezone(&Utc))
}

/// `now`, `now+3600s`, `now-1s`, `now+30d`.
fn relative_time(now: DateTime<Utc>, expr: &str) -> Option<DateTime<Utc>> {
    let rest = expr.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(now);
    }
    let (sign, amount) = rest.split_at(1);
    let (number, unit) = amount.split_at(amount.len() - 1);
    let n: i64 = number.parse().ok()?;
    let delta = match unit {
        "s" => TimeDelta::seconds(n),
        "d" => TimeDelta::days(n),
        _ => return None,
    };
    match sign {
        "+" => now.checked_add_signed(delta),
        "-" => now.checked_sub_signed(delta),
        _ => None,
    }
}

fn settings_for(fixture: &Value) -> Settings {
    let mut settings = Settings::default();
    if let Some(config) = fixture.get("config") {
        if config.get("unknownFields").and_then(Value::as_str) == Some("reject") {
            settings.unknown_fields = UnknownFields::Reject;
        }
        if let Some(v) = config.get("sessionMaxAge").and_then(Value::as_u64) {
            settings.session_max_age = v;
        }
        if let Some(v) = config.get("sessionUpdateAge").and_then(Value::as_u64) {
            settings.session_update_age = v;
        }
        if let Some(v) = config.get("maxSessionsPerUser").and_then(Value::as_u64) {
            settings.max_sessions_per_user = u32::try_from(v).expect("maxSessionsPerUser fits u32");
        }
        if let Some(keys) = config.get("apiKeys").and_then(Value::as_array) {
            settings.api_keys = ApiKeys::new(keys.iter().map(|k| k.as_str().expect("apiKeys are strings")));
        }
    }
    settings
}

async fn send_step(app: &TestApp, run: &Run, step: &Value) -> TestResponse {
    let (method, path) = match step.get("call").and_then(Value::as_str) {
        Some(call) => ("POST".to_owned(), format!("/v1/adapter/{call}")),
        None => {
            let http = step.get("http").unwrap_or_else(|| panic!("{}: a step needs `call` or `http`", run.file));
            (
                http["method"].as_str().unwrap_or("POST").to_owned(),
                run.interpolate(http["path"].as_str().expect("http.path")),
            )
        }
    };
    let http = step.get("http");
    let content_type = http.and_then(|h| h.get("contentType")).map_or(Some("application/json"), |v| v.as_str());
    let body = match http.and_then(|h| h.get("rawBody")).and_then(Value::as_str) {
        Some(raw) => raw.to_owned(),
        None => match step.get("body") {
            Some(body) => serde_json::to_string(&run.substitute(body)).expect("JSON"),
            None => String::new(),
        },
    };
    let mut request = Request::builder().method(method.as_str()).uri(path);
    if let Some(ct) = content_type.filter(|_| !body.is_empty() || method == "POST") {
        request = request.header("content-type", ct);
    }
    let headers = http.and_then(|h| h.get("headers")).and_then(Value::as_object);
    // With keys configured, every request carries the first one unless the step says otherwise
    // (`"authorization": null` sends none).
    let sets_authorization = headers.is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("authorization")));
    if let Some(key) = run.api_key.as_deref().filter(|_| !sets_authorization) {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers.into_iter().flatten() {
        if let Some(value) = value.as_str() {
            request = request.header(name.as_str(), value);
        }
    }
    app.send(request.body(Body::from(body)).expect("request")).await
}

async fn run_fixture((backend, schema): (Backend, Schema), name: &str) {
    run_fixture_on(backend, name, async |settings| TestApp::with_schema(backend, schema, settings).await).await
}

/// Runs one fixture file, which must run on `backend`, on the app `app` builds from the
/// fixture's settings.
pub async fn run_fixture_on(backend: Backend, name: &str, app: impl AsyncFnOnce(Settings) -> TestApp) {
    let file = format!("{name}.json");
    let fixture = read_fixture(name).unwrap_or_else(|e| panic!("{e}"));
    // `backends` restricts a whole file, or one step, to some backends.
    let runs_here =
        |entry: &Value| providers(entry).unwrap_or_else(|e| panic!("{file}: {e}")).contains(&backend.provider());
    assert!(runs_here(&fixture), "{file} does not run on {backend:?}");
    let settings = settings_for(&fixture);
    // The server keeps only digests; the client sends the fixture's first key.
    let api_key = fixture.pointer("/config/apiKeys/0").and_then(Value::as_str).map(str::to_owned);
    let app = app(settings).await;
    let mut run = Run { api_key, vars: Map::new(), now: Utc::now(), file: file.clone() };
    let steps = fixture["steps"].as_array().unwrap_or_else(|| panic!("{file}: no steps"));
    for (index, step) in steps.iter().enumerate().filter(|(_, step)| runs_here(step)) {
        let label = format!(
            "{file} step {index} ({})",
            step.get("name").or_else(|| step.get("call")).and_then(Value::as_str).unwrap_or("http")
        );
        let response = send_step(&app, &run, step).await;
        let want_status = step.get("status").and_then(Value::as_u64).unwrap_or(200);
        assert_eq!(response.status.as_u16() as u64, want_status, "{label}: status; body {}", response.text);
        let request_id = response.header("x-request-id").map(str::to_owned);
        assert!(request_id.is_some(), "{label}: every response carries X-Request-Id");

        let mut errors = Vec::new();
        if let Some(problem) = step.get("problem") {
            assert_eq!(response.header("content-type"), Some("application/problem+json"), "{label}: content type");
            let body = response.json();
            let code = body["code"].as_str().unwrap_or_default();
            assert_eq!(body["type"], format!("https://authbridge.dev/problems/{code}"), "{label}: type");
            assert_eq!(body["status"].as_u64(), Some(want_status), "{label}: status member");
            assert_eq!(body["requestId"].as_str(), request_id.as_deref(), "{label}: requestId equals X-Request-Id");
            assert!(body["title"].is_string() && body["detail"].is_string(), "{label}: title and detail");
            for (key, want) in problem.as_object().expect("problem is an object") {
                run.matches(want, &body[key], key, &mut errors);
            }
        } else if let Some(expected) = step.get("response") {
            assert_eq!(response.header("content-type"), Some("application/json"), "{label}: content type");
            run.matches(expected, &response.json(), "$", &mut errors);
        }
        if let Some(headers) = step.get("headers").and_then(Value::as_object) {
            for (name, want) in headers {
                let got = response.header(name);
                match want {
                    Value::Null => assert!(got.is_none(), "{label}: header {name} must be absent, got {got:?}"),
                    want => assert_eq!(got, want.as_str(), "{label}: header {name}"),
                }
            }
        }
        assert!(errors.is_empty(), "{label}:\n  {}\nbody: {}", errors.join("\n  "), response.text);
        if let Some(save) = step.get("save").and_then(Value::as_str) {
            run.vars.insert(save.to_owned(), response.json());
        }
    }
}

fn matchers_work() {
    let run = Run { api_key: None, vars: Map::new(), now: Utc::now(), file: "self-test".into() };
    let mut errors = Vec::new();
    run.matches(&serde_json::json!({"id": "{{cuid}}"}), &serde_json::json!({"id": "nope"}), "$", &mut errors);
    run.matches(&serde_json::json!({"a": 1}), &serde_json::json!({"a": 1, "b": 2}), "$", &mut errors);
    run.matches(
        &serde_json::json!("{{date~now+1d}}"),
        &serde_json::json!("2000-01-01T00:00:00.000Z"),
        "$",
        &mut errors,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
}

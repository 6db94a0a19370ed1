//! The command line, run as a user runs it: the built binary.

use std::process::Output;

use clap::CommandFactory;
use serde_json::json;

use crate::binary::{Server, command, database};
use crate::support::{Backend, DATABASES, mysql_admin_url, postgres_admin_url, with_database};

crate::harness::tests! {
    sync: every_option_is_also_an_environment_variable, version_and_help, served_metrics_show_the_configured_pool;
    sync: the_database_password_never_reaches_the_output;
    sync on [Backend::Postgres, Backend::Mysql]: the_password_of_a_reachable_server_never_reaches_the_output;
    sync on DATABASES: text_logs_have_one_line_per_request_and_no_secret, json_logs_have_one_object_per_request_and_no_secret;
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn every_option_is_also_an_environment_variable() {
    let cli = authbridge::config::Cli::command();
    let mut missing = Vec::new();
    for arg in cli.get_arguments() {
        let id = arg.get_id().as_str();
        if ["help", "version"].contains(&id) || arg.is_positional() {
            continue;
        }
        match arg.get_env() {
            Some(name) => assert!(
                name.to_str().is_some_and(|n| n == "DATABASE_URL" || n.starts_with("AUTHBRIDGE_")),
                "{id}: {name:?}"
            ),
            None => missing.push(id.to_owned()),
        }
        assert!(arg.get_help().is_some(), "--{id} has help text");
    }
    assert!(missing.is_empty(), "options without an environment variable: {missing:?}");
}

fn version_and_help() {
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(text(&version.stdout).trim(), format!("authbridge {}", env!("CARGO_PKG_VERSION")));

    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    for needle in [
        "serve",
        "migrate",
        "check-schema",
        "DATABASE_URL",
        "AUTHBRIDGE_API_KEYS",
        "AUTHBRIDGE_BIND",
        "AUTHBRIDGE_LOG_FORMAT",
        "Examples:",
        "Exit codes",
        "/metrics",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}:\n{help}");
    }
    let subcommands: Vec<String> =
        authbridge::config::Cli::command().get_subcommands().map(|s| s.get_name().to_owned()).collect();
    assert!(subcommands.len() >= 3, "{subcommands:?}");
    for sub in &subcommands {
        let output = run(&[sub, "--help"]);
        assert!(output.status.success(), "{sub} --help");
        let help = text(&output.stdout);
        assert!(help.contains(&format!("authbridge {sub}")), "{sub} --help shows its usage:\n{help}");
        assert!(help.contains("DATABASE_URL"), "{sub} --help lists the options:\n{help}");
    }
    let unknown = run(&["frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2), "a usage error is a configuration error");
    assert!(text(&unknown.stderr).contains("frobnicate"));
}

/// A password in DATABASE_URL is never printed, whatever the log level and whatever fails: here
/// where nothing listens.
fn the_database_password_never_reaches_the_output() {
    password_stays_out_of_the_output(&[
        "postgresql://app:SECRET-pw@127.0.0.1:1/app",
        "mysql://app:SECRET-pw@127.0.0.1:1/app",
        // A PKCS#12 password that cannot be used, and one that contradicts the rest of the URL.
        "mysql://app:SECRET-pw@127.0.0.1:1/app?sslidentity=./missing.p12&sslpassword=SECRET-p12",
        "mysql://app:SECRET-pw@127.0.0.1:1/app?sslpassword=SECRET-p12",
    ]);
}

/// The same where the server answers: PostgreSQL's trust authentication ignores the password, so
/// the check connects and runs; MariaDB checks it, and its refusal must not quote it either.
fn the_password_of_a_reachable_server_never_reaches_the_output(backend: Backend) {
    let admin = match backend {
        Backend::Postgres => with_database(&postgres_admin_url(), "postgres"),
        _ => mysql_admin_url(),
    };
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_password(Some("SECRET-pw")).unwrap();
    password_stays_out_of_the_output(&[url.as_str()]);
}

/// `check-schema` on each URL, in both log formats at trace level: it fails, and says no SECRET.
fn password_stays_out_of_the_output(urls: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    for url in urls {
        for format in ["text", "json"] {
            let output = command(&["check-schema", "--log-format", format])
                .current_dir(dir.path())
                .env("DATABASE_URL", url)
                .env("RUST_LOG", "trace")
                .output()
                .unwrap();
            let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
            assert!(!output.status.success(), "an empty database fails the check: {all}");
            assert!(!all.contains("SECRET"), "{url}: the password was printed:\n{all}");
        }
    }
}

/// Requests full of secrets against a server logging at trace level; returns the log and the
/// request ids with the statuses they got.
fn traffic(backend: Backend, format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (_scratch, _user, url) = database(backend, dir.path());
    let env = [("AUTHBRIDGE_API_KEYS", "SECRET-api-key"), ("RUST_LOG", "trace"), ("DATABASE_URL", url.as_str())];
    let server = Server::start_with(dir.path(), &["--log-format", format], &env);
    let call = |method: &str, body: serde_json::Value, id: &str| {
        let headers =
            [("Authorization", "Bearer SECRET-api-key"), ("Content-Type", "application/json"), ("X-Request-Id", id)];
        server.request("POST", &format!("/v1/adapter/{method}"), &headers, &body.to_string())
    };
    let user = json!({ "user": { "email": "SECRET@example.com", "name": "n", "refresh_token_expires_in": 5 } });
    let (status, body) = call("createUser", user, "log-create");
    assert_eq!(status, 200, "{body}");
    let user_id = serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["id"].as_str().unwrap().to_owned();
    let session = json!({ "session": { "sessionToken": "SECRET-session-token", "userId": user_id, "expires": "2099-01-01T00:00:00Z" } });
    assert_eq!(call("createSession", session, "log-session").0, 200);
    let lookup = json!({ "sessionToken": "SECRET-session-token", "updateAge": 0 });
    assert_eq!(call("getSessionAndUser", lookup, "log-lookup").0, 200);
    let bad = json!({ "email": "SECRET@example.com", "extra": "SECRET-extra" });
    assert_eq!(call("getUserByEmail", bad, "log-bad").0, 400);
    let wrong_key = [("Authorization", "Bearer SECRET-wrong-key"), ("X-Request-Id", "log-401")];
    assert_eq!(server.request("GET", "/v1/users/SECRET-path-id/sessions", &wrong_key, "").0, 401);
    let log = server.stop();
    for secret in ["SECRET", "example.com"] {
        assert!(!log.contains(secret), "{secret} reached the {format} log on {backend:?}:\n{log}");
    }
    log
}

/// The five requests of [`traffic`]: id, route label, status.
const EXPECTED: [(&str, &str, u16); 5] = [
    ("log-create", "/v1/adapter/createUser", 200),
    ("log-session", "/v1/adapter/createSession", 200),
    ("log-lookup", "/v1/adapter/getSessionAndUser", 200),
    ("log-bad", "/v1/adapter/getUserByEmail", 400),
    ("log-401", "/v1/users/{userId}/sessions", 401),
];

fn text_logs_have_one_line_per_request_and_no_secret(backend: Backend) {
    let log = traffic(backend, "text");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("authbridge::request")).collect();
    assert_eq!(lines.len(), EXPECTED.len(), "one line per request:\n{log}");
    for (id, route, status) in EXPECTED {
        let line = lines.iter().find(|l| l.contains(&format!("request_id=\"{id}\""))).expect(&log);
        for field in [" INFO ", &format!("route=\"{route}\""), &format!("status={status}"), "latency_us="] {
            assert!(line.contains(field), "{field} in {line}");
        }
        assert!(line.contains(if id == "log-401" { "method=GET" } else { "method=POST" }), "{line}");
        assert!(!line.contains('\u{1b}'), "no colour codes outside a terminal: {line}");
    }
    assert!(log.contains("user.refresh_token_expires_in"), "dropped keys are logged by name:\n{log}");
}

fn json_logs_have_one_object_per_request_and_no_secret(backend: Backend) {
    let log = traffic(backend, "json");
    let events: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let requests: Vec<&serde_json::Value> = events.iter().filter(|e| e["target"] == "authbridge::request").collect();
    assert_eq!(requests.len(), EXPECTED.len(), "one object per request:\n{log}");
    for (id, route, status) in EXPECTED {
        let event = requests.iter().find(|e| e["request_id"] == id).expect(&log);
        assert_eq!(event["level"], "INFO");
        assert_eq!(event["message"], "request");
        assert_eq!(event["method"], if id == "log-401" { "GET" } else { "POST" });
        assert_eq!(event["route"], route);
        assert_eq!(event["status"], status);
        assert!(event["latency_us"].is_u64(), "{event}");
        assert!(event["timestamp"].is_string(), "{event}");
    }
}

/// `/metrics` on the real binary shows the pool of the configured size.
fn served_metrics_show_the_configured_pool() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("AUTHBRIDGE_API_KEYS", "k"), ("AUTHBRIDGE_POOL_SIZE", "3")]);
    assert_eq!(server.request("GET", "/readyz", &[], "").0, 200);
    let (status, body) = server.request("GET", "/metrics", &[("Authorization", "Bearer k")], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("authbridge_db_pool_max_connections 3"), "{body}");
    // /readyz used a connection, which stays open in the pool.
    assert!(body.contains("authbridge_db_pool_connections 1"), "{body}");
    // The health checks need no key: their requests carry none (`-`).
    let readyz = r#"authbridge_http_requests_total{method="GET",route="/readyz",status_class="2xx",key="-"} 1"#;
    assert!(body.contains(readyz), "{body}");
    server.stop();
}

//! The command line, run as a user runs it: the built binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use clap::CommandFactory;
use serde_json::json;

use crate::support::{Backend, Scratch, postgres_admin_url, with_database};

pub fn authbridge(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authbridge"));
    command.args(args);
    // A developer's own settings must not leak into these runs.
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHBRIDGE_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

fn run(args: &[&str]) -> Output {
    authbridge(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
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

#[test]
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

/// A password in DATABASE_URL is never printed, whatever the log level and whatever fails.
#[test]
fn the_database_password_never_reaches_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec!["postgresql://app:SECRET-pw@127.0.0.1:1/app".to_owned()];
    if let Some(admin) = postgres_admin_url() {
        // Trust authentication ignores the password, so this one connects and runs the check.
        let mut url = url::Url::parse(&with_database(&admin, "postgres")).unwrap();
        url.set_password(Some("SECRET-pw")).unwrap();
        urls.push(url.to_string());
    }
    urls.push("mysql://app:SECRET-pw@127.0.0.1:1/app".to_owned());
    // A PKCS#12 password that cannot be used, and one that contradicts the rest of the URL.
    urls.push("mysql://app:SECRET-pw@127.0.0.1:1/app?sslidentity=./missing.p12&sslpassword=SECRET-p12".to_owned());
    urls.push("mysql://app:SECRET-pw@127.0.0.1:1/app?sslpassword=SECRET-p12".to_owned());
    if let Some(admin) = crate::support::mysql_admin_url() {
        // MariaDB checks the password: the refusal must not quote it either.
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_password(Some("SECRET-pw")).unwrap();
        urls.push(url.to_string());
    }
    for url in urls {
        for format in ["text", "json"] {
            let output = authbridge(&["check-schema", "--log-format", format])
                .current_dir(dir.path())
                .env("DATABASE_URL", &url)
                .env("RUST_LOG", "trace")
                .output()
                .unwrap();
            let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
            assert!(!output.status.success(), "an empty database fails the check: {all}");
            assert!(!all.contains("SECRET"), "{url}: the password was printed:\n{all}");
        }
    }
}

/// A running `authbridge serve` on a free port, its stderr read line by line; its stdout goes to
/// `stdout.log` in the working directory.
pub struct Server {
    child: Child,
    stderr: BufReader<ChildStderr>,
    pub address: String,
    log: String,
}

impl Server {
    /// Starts the binary and waits for the line that says where it listens.
    pub fn start(dir: &Path, format: &str, env: &[(&str, &str)]) -> Server {
        Self::start_with(dir, &["--log-format", format], env)
    }

    /// Starts `authbridge serve --bind 127.0.0.1:0` with more arguments.
    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = authbridge(&[&["serve", "--bind", "127.0.0.1:0"], args].concat());
        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("stdout.log");
        command.current_dir(dir).stdout(stdout).stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut server = Server { child, stderr, address: String::new(), log: String::new() };
        while server.address.is_empty() {
            let line = server.next_line().unwrap_or_else(|| panic!("the server stopped:\n{}", server.log));
            if line.contains("authbridge listening") {
                server.address = listening_address(&line);
            }
        }
        assert!(!server.address.ends_with(":0"), "the bound port is logged: {}", server.address);
        server
    }

    fn next_line(&mut self) -> Option<String> {
        let mut line = String::new();
        (self.stderr.read_line(&mut line).unwrap() > 0).then(|| {
            self.log.push_str(&line);
            line
        })
    }

    /// One HTTP/1.1 request on a fresh connection; returns the status and the body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// SIGTERM; returns everything the server wrote to stderr once it has exited.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        while self.next_line().is_some() {}
        let status = self.child.wait().unwrap();
        assert!(status.success(), "a clean exit on SIGTERM:\n{}", self.log);
        assert!(self.log.contains("shut down cleanly"), "{}", self.log);
        std::mem::take(&mut self.log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `address=127.0.0.1:4321` in a text line, `"address":"127.0.0.1:4321"` in a JSON one.
fn listening_address(line: &str) -> String {
    if let Ok(event) = serde_json::from_str::<serde_json::Value>(line) {
        return event["address"].as_str().expect("address").to_owned();
    }
    let start = line.find("address=").expect("address=") + "address=".len();
    line[start..].split_whitespace().next().unwrap().trim_matches('"').to_owned()
}

/// A MySQL account that may use one scratch database, dropped with the test.
pub struct MysqlUser {
    admin_url: String,
    name: String,
}

impl Drop for MysqlUser {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(crate::support::mysql_admin(
            &self.admin_url,
            &format!("DROP USER IF EXISTS '{}'@'%'", self.name),
        ));
    }
}

/// A database for the server: a SQLite file, or a scratch PostgreSQL or MySQL database reached
/// with a password in the URL (PostgreSQL's trust authentication ignores it; on MySQL it belongs
/// to an account made for the test), so that it can be checked for in the logs.
pub fn database(backend: Backend, dir: &Path) -> Option<(Option<Scratch>, Option<MysqlUser>, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (scratch, url) = match backend {
        Backend::Postgres | Backend::Mysql => runtime.block_on(Scratch::create(backend))?,
        _ => return Some((None, None, format!("file:{}", dir.join("logs.db").display()))),
    };
    let mut url = url::Url::parse(&url).unwrap();
    let mut user = None;
    if backend == Backend::Mysql {
        let name = url.path().trim_start_matches('/').to_owned();
        let admin_url = crate::support::mysql_admin_url().expect("the scratch database exists");
        runtime.block_on(crate::support::mysql_admin(
            &admin_url,
            &format!(
                "CREATE USER '{name}'@'%' IDENTIFIED BY 'SECRET-db-password'; GRANT ALL ON `{name}`.* TO '{name}'@'%'"
            ),
        ));
        url.set_username(&name).unwrap();
        user = Some(MysqlUser { admin_url, name });
    }
    url.set_password(Some("SECRET-db-password")).unwrap();
    Some((Some(scratch), user, url.to_string()))
}

/// Requests full of secrets against a server logging at trace level; returns the log and the
/// request ids with the statuses they got.
fn traffic(backend: Backend, format: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let (_scratch, _user, url) = database(backend, dir.path())?;
    let env = [("AUTHBRIDGE_API_KEYS", "SECRET-api-key"), ("RUST_LOG", "trace"), ("DATABASE_URL", url.as_str())];
    let server = Server::start(dir.path(), format, &env);
    let call = |method: &str, body: serde_json::Value, id: &str| {
        let headers =
            [("Authorization", "Bearer SECRET-api-key"), ("Content-Type", "application/json"), ("X-Request-Id", id)];
        server.request("POST", &format!("/v1/adapter/{method}"), &headers, &body.to_string())
    };
    let user = json!({ "user": { "email": "SECRET@example.com", "name": "n", "refresh_token_expires_in": 5 } });
    let (status, body) = call("createUser", user, "log-create");
    assert_eq!(status, 200, "{body}");
    let user_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
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
    Some(log)
}

/// The five requests of [`traffic`]: id, route label, status.
const EXPECTED: [(&str, &str, u16); 5] = [
    ("log-create", "/v1/adapter/createUser", 200),
    ("log-session", "/v1/adapter/createSession", 200),
    ("log-lookup", "/v1/adapter/getSessionAndUser", 200),
    ("log-bad", "/v1/adapter/getUserByEmail", 400),
    ("log-401", "/v1/users/{userId}/sessions", 401),
];

#[test]
fn text_logs_have_one_line_per_request_and_no_secret() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(log) = traffic(backend, "text") else { continue };
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
}

#[test]
fn json_logs_have_one_object_per_request_and_no_secret() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(log) = traffic(backend, "json") else { continue };
        let events: Vec<serde_json::Value> =
            log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
        let requests: Vec<&serde_json::Value> =
            events.iter().filter(|e| e["target"] == "authbridge::request").collect();
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
}

/// `/metrics` on the real binary shows the pool of the configured size.
#[test]
fn served_metrics_show_the_configured_pool() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "text", &[("AUTHBRIDGE_API_KEYS", "k"), ("AUTHBRIDGE_POOL_SIZE", "3")]);
    assert_eq!(server.request("GET", "/readyz", &[], "").0, 200);
    let (status, body) = server.request("GET", "/metrics", &[("Authorization", "Bearer k")], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("authbridge_db_pool_max_connections 3"), "{body}");
    // /readyz used a connection, which stays open in the pool.
    assert!(body.contains("authbridge_db_pool_connections 1"), "{body}");
    let readyz = r#"authbridge_http_requests_total{method="GET",route="/readyz",status_class="2xx"} 1"#;
    assert!(body.contains(readyz), "{body}");
    server.stop();
}

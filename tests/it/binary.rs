//! The real binary: [`command`] runs it with a clean environment, [`Server`] keeps `authbridge
//! serve` running on a free port, and [`http`] / [`Server::request`] talk to it over a real socket
//! with a small blocking HTTP/1.1 client that reports every outcome (status, refused, reset, timed
//! out) instead of panicking, which is what the limit and fault tests need to drive a server under
//! load and then break it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{Backend, Scratch};

/// The binary under test: `AUTHBRIDGE_TEST_BINARY` (e.g. the release build) or Cargo's build.
pub fn binary() -> String {
    std::env::var("AUTHBRIDGE_TEST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_authbridge").to_owned())
}

/// `authbridge ARGS`, without the developer's own settings: no `AUTHBRIDGE_*`, `DATABASE_URL` or
/// `RUST_LOG` of the test's environment reaches it.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHBRIDGE_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` to its end with its output captured; kills it and panics if it still runs
/// after `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary starts");
    let pid = child.id().to_string();
    let (done, output) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match output.recv_timeout(limit) {
        Ok(output) => output.expect("the binary's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("{command:?} still runs after {limit:?}");
        }
    }
}

/// `authbridge serve` on `database_url` in `dir`, which must refuse to start (within a minute):
/// its exit code, and its stdout and stderr.
pub fn start_up_failure(dir: &Path, database_url: &str) -> (Option<i32>, String) {
    let mut command = command(&["serve", "--bind", "127.0.0.1:0"]);
    command.current_dir(dir).env("DATABASE_URL", database_url);
    let output = output_within(&mut command, Duration::from_secs(60));
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), all)
}

/// How long a request may take before [`http`] reports [`Outcome::TimedOut`], unless it says.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A running `authbridge serve` on a free port, in `dir`: its stdout goes to `dir/stdout.log`,
/// its stderr is read continuously (so a busy server never blocks on a full pipe) and kept.
pub struct Server {
    pub child: Child,
    pub address: String,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    /// `authbridge serve --bind 127.0.0.1:0`, once it says where it listens.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(dir, &[], env)
    }

    /// [`Server::start`] with more arguments.
    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = command(&[&["serve", "--bind", "127.0.0.1:0"], args].concat());
        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("stdout.log");
        command.current_dir(dir).stdout(stdout).stderr(Stdio::piped());
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("the binary starts");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = mpsc::channel();
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("authbridge listening") {
                    let _ = found.send(listening_address(&line));
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut server = Server { child, address: String::new(), log, reader: Some(reader) };
        server.address = address
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not start:\n{}", server.log()));
        assert!(!server.address.ends_with(":0"), "the bound port is logged: {}", server.address);
        server
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args([&format!("-{signal}"), &self.pid()]).status().unwrap().success();
        assert!(ok, "kill -{signal}");
    }

    /// Waits at most `limit` for the process to exit; then everything it wrote is in the log.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.reader.take() {
                    reader.join().expect("the log reader");
                }
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM; the server must exit cleanly. Returns everything it wrote to stderr.
    pub fn stop(mut self) -> String {
        self.signal("TERM");
        let status = self.wait_exit(Duration::from_secs(60)).expect("the server exits on SIGTERM");
        let log = self.log();
        assert!(status.success(), "a clean exit on SIGTERM:\n{log}");
        assert!(log.contains("shut down cleanly"), "{log}");
        log
    }

    /// One request on a fresh connection that must be answered; returns the status and the body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let (status, body, _) = self.exchange(method, path, headers, body);
        (status, body)
    }

    /// [`Server::request`], also returning the answer's `X-Request-Id`.
    pub fn exchange(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
        match request(&self.address, method, path, headers, body, TIMEOUT) {
            Outcome::Answered { status, body, request_id, .. } => {
                (status, body, request_id.unwrap_or_else(|| panic!("{method} {path}: no X-Request-Id")))
            }
            other => panic!("{method} {path}: {other:?}\n{}", self.log()),
        }
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

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response.
    Answered { status: u16, retry_after: bool, body: String, request_id: Option<String> },
    /// The connection was refused: the request never reached the server.
    Refused,
    /// Closed or reset before any byte of a response arrived.
    Closed,
    /// Closed after part of a response: a half-written answer, never acceptable.
    Truncated(String),
    /// No answer within the client's timeout.
    TimedOut,
}

impl Outcome {
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Answered { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The body of an answer, which must be JSON.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Outcome::Answered { body, .. } => {
                serde_json::from_str(body).unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {body}"))
            }
            other => panic!("no answer: {other:?}"),
        }
    }

    /// A short label for status distributions: `200`, `503`, `refused`, ...
    pub fn label(&self) -> String {
        match self {
            Outcome::Answered { status, .. } => status.to_string(),
            Outcome::Refused => "refused".into(),
            Outcome::Closed => "closed".into(),
            Outcome::Truncated(_) => "truncated".into(),
            Outcome::TimedOut => "timed out".into(),
        }
    }
}

/// One request with a JSON content type on a fresh connection; never panics.
pub fn http(address: &str, method: &str, path: &str, body: &str, timeout: Duration) -> Outcome {
    request(address, method, path, &[("Content-Type", "application/json")], body, timeout)
}

/// One request on a fresh connection (`Connection: close`) with these headers; never panics.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Outcome {
    let mut stream = match TcpStream::connect(address) {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(_) => return Outcome::Closed,
    };
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body.as_bytes()).is_err() {
        return Outcome::Closed;
    }
    read_response(&mut stream)
}

/// Reads a whole `Connection: close` response.
pub fn read_response(stream: &mut TcpStream) -> Outcome {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Outcome::TimedOut;
            }
            Err(_) if bytes.is_empty() => return Outcome::Closed,
            Err(_) => break,
        }
    }
    if bytes.is_empty() {
        return Outcome::Closed;
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return Outcome::Truncated(text) };
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { Some(body.to_owned()) };
    match (status, body) {
        (Some(status), Some(body)) if length.is_none_or(|n| n == body.len()) => {
            let retry_after = head.to_ascii_lowercase().contains("\r\nretry-after:");
            let request_id = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("x-request-id").then(|| value.trim().to_owned())
            });
            Outcome::Answered { status, retry_after, body, request_id }
        }
        _ => Outcome::Truncated(text),
    }
}

/// A chunked body, or `None` when it was cut short.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
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

/// A database for the server: a SQLite file in `dir`, or a scratch PostgreSQL or MySQL database
/// reached with a password in the URL (PostgreSQL's trust authentication ignores it; on MySQL it
/// belongs to an account made for the test), so that it can be checked for in the logs.
pub fn database(backend: Backend, dir: &Path) -> (Option<Scratch>, Option<MysqlUser>, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (scratch, url) = match backend {
        Backend::Postgres | Backend::Mysql => runtime.block_on(Scratch::create(backend)),
        _ => return (None, None, format!("file:{}", dir.join("logs.db").display())),
    };
    let mut url = url::Url::parse(&url).unwrap();
    let mut user = None;
    if backend == Backend::Mysql {
        let name = url.path().trim_start_matches('/').to_owned();
        let admin_url = crate::support::mysql_admin_url();
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
    (Some(scratch), user, url.to_string())
}

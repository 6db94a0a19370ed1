//! The real binary as a child process, and a small blocking HTTP/1.1 client that reports every
//! outcome (status, refused, reset, timed out) instead of panicking: what the limit and fault
//! tests need to drive a server under load and then break it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// `authbridge serve` on a free port; its stderr is read continuously (so a busy server never
/// blocks on a full pipe) and kept for assertions.
pub struct Proc {
    pub child: Child,
    pub address: String,
    log: Arc<Mutex<String>>,
}

impl Proc {
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Proc {
        let mut command = Command::new(binary());
        command.args(["serve", "--bind", "127.0.0.1:0"]).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("AUTHBRIDGE_") || name == "DATABASE_URL" || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("authbridge listening")
                    && let Some(at) = line.find("address=")
                {
                    let _ = found.send(line[at + 8..].split_whitespace().next().unwrap_or("").to_owned());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not start:\n{}", log.lock().unwrap()));
        Proc { child, address, log }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args([&format!("-{signal}"), &self.pid()]).status().unwrap().success();
        assert!(ok, "kill -{signal}");
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary under test: `AUTHBRIDGE_TEST_BINARY` (e.g. the release build) or Cargo's build.
pub fn binary() -> String {
    std::env::var("AUTHBRIDGE_TEST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_authbridge").to_owned())
}

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response.
    Answered { status: u16, retry_after: bool, body: String },
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

    pub fn json(&self) -> serde_json::Value {
        match self {
            Outcome::Answered { body, .. } => serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Null,
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

/// One request on a fresh connection (`Connection: close`); never panics.
pub fn http(address: &str, method: &str, path: &str, body: &str, timeout: Duration) -> Outcome {
    let mut stream = match TcpStream::connect(address) {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(_) => return Outcome::Closed,
    };
    stream.set_read_timeout(Some(timeout)).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
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
            Outcome::Answered { status, retry_after, body }
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

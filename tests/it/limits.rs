//! Every limit of the server, against the real binary over real sockets: header size, body size,
//! slow headers (slowloris), slow bodies and concurrent requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::binary::{Outcome, Server, http, read_response};

crate::harness::tests! {
    sync:
        headers_over_the_limit_get_431,
        bodies_over_the_limit_get_413,
        slow_headers_are_cut_off,
        slow_bodies_get_408,
        requests_beyond_the_concurrency_limit_get_503;
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Small limits, so that each is reached quickly.
fn server(dir: &std::path::Path) -> Server {
    let url = format!("file:{}", dir.join("limits.db").display());
    Server::start(
        dir,
        &[
            ("DATABASE_URL", url.as_str()),
            ("AUTHBRIDGE_MAX_HEADER_BYTES", "4096"),
            ("AUTHBRIDGE_HEADER_READ_TIMEOUT_MS", "1000"),
            ("AUTHBRIDGE_REQUEST_TIMEOUT_MS", "2000"),
            ("AUTHBRIDGE_MAX_CONCURRENT_REQUESTS", "2"),
            // No queue: a request beyond the limit is refused at once (the queue has its own test).
            ("AUTHBRIDGE_MAX_QUEUED_REQUESTS", "0"),
            ("AUTHBRIDGE_BODY_LIMIT", "1024"),
        ],
    )
}

/// Sends `head` (and `body`) as they are and reads the answer.
fn raw(address: &str, head: &str, body: &str) -> Outcome {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    // The server may answer (and close) before it has read everything: ignore write errors.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    read_response(&mut stream)
}

fn assert_problem(outcome: &Outcome, status: u16, code: &str) {
    assert_eq!(outcome.status(), Some(status), "{outcome:?}");
    let problem = outcome.json();
    assert_eq!(problem["code"], code, "{outcome:?}");
    assert_eq!(problem["status"], status, "{outcome:?}");
}

/// A connection that has sent the head of a POST and only part of its body.
fn slow_body(address: &str, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(br#"{"id":"#).unwrap();
    stream
}

fn headers_over_the_limit_get_431() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let head = |pad: usize| {
        format!("GET /v1/stats/sessions HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: {}\r\n\r\n", "a".repeat(pad))
    };
    assert_eq!(raw(&server.address, &head(3000), "").status(), Some(200), "a head under 4096 bytes is served");
    assert_problem(&raw(&server.address, &head(5000), ""), 431, "headers_too_large");
    // Far past the limit the HTTP parser refuses the head before routing: 431 without a body.
    let huge = raw(&server.address, &head(40_000), "");
    assert_eq!(huge.status(), Some(431), "{huge:?}");
}

fn bodies_over_the_limit_get_413() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let body = format!(r#"{{"email":"{}@example.com"}}"#, "a".repeat(2000));
    assert_problem(
        &http(&server.address, "POST", "/v1/adapter/getUserByEmail", &body, TIMEOUT),
        413,
        "payload_too_large",
    );
}

/// Slowloris: a client that trickles its headers is disconnected after the header read timeout.
fn slow_headers_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n").unwrap();
    let closed_after = loop {
        assert!(started.elapsed() < Duration::from_secs(5), "the trickling client was never disconnected");
        if stream.write_all(b"X-Slow: 1\r\n").is_err() {
            break started.elapsed();
        }
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => panic!("no answer is expected to an unfinished head"),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break started.elapsed(),
        }
    };
    assert!(closed_after >= Duration::from_millis(900), "closed too early: {closed_after:?}");
    assert!(closed_after < Duration::from_millis(2500), "closed too late: {closed_after:?}");
    // The server still serves everyone else.
    assert_eq!(http(&server.address, "GET", "/healthz", "", TIMEOUT).status(), Some(200));
}

/// A body that never finishes arriving gets 408 after the request timeout.
fn slow_bodies_get_408() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let started = Instant::now();
    let mut stream = slow_body(&server.address, "/v1/adapter/getUser");
    let outcome = read_response(&mut stream);
    assert_problem(&outcome, 408, "request_timeout");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(5), "{took:?}");
}

/// Beyond --max-concurrent-requests a request is answered 503 at once; health checks are exempt.
fn requests_beyond_the_concurrency_limit_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let get_user = || http(&server.address, "POST", "/v1/adapter/getUser", r#"{"id":"nobody"}"#, TIMEOUT);
    assert_eq!(get_user().status(), Some(200));
    // Two requests in progress (their bodies are still arriving) hold both slots.
    let mut holders =
        [slow_body(&server.address, "/v1/adapter/getUser"), slow_body(&server.address, "/v1/adapter/getUser")];
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let shed = get_user();
    // At once: long before the holders' 2 s timeout would free a slot.
    assert!(started.elapsed() < Duration::from_millis(1000), "shed at once, not queued: {:?}", started.elapsed());
    assert_problem(&shed, 503, "unavailable");
    assert!(matches!(shed, Outcome::Answered { retry_after: true, .. }), "Retry-After: {shed:?}");
    assert_eq!(http(&server.address, "GET", "/healthz", "", TIMEOUT).status(), Some(200), "health checks are exempt");
    assert_eq!(http(&server.address, "GET", "/readyz", "", TIMEOUT).status(), Some(200), "health checks are exempt");
    // The holders end with 408; their slots are free again.
    for holder in &mut holders {
        assert_eq!(read_response(holder).status(), Some(408));
    }
    assert_eq!(get_user().status(), Some(200));
}

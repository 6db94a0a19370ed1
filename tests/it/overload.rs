//! Admission control against the real binary over real sockets: refused requests never reach the
//! handlers or the database, are answered with the preformatted problem and are not logged one
//! by one; a request beyond the limit waits in the queue and is served when a slot frees.
//!
//! The issue asks for refusals "in under 5 ms": that is printed as a measurement (the project
//! does not assert timings; a loaded CI machine would make such an assertion fail by chance).

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::binary::{Outcome, Server, http, read_response};

crate::harness::tests! {
    sync:
        refused_requests_never_reach_the_database,
        queued_requests_are_served_when_a_slot_frees;
}

const TIMEOUT: Duration = Duration::from_secs(10);
const REFUSED: usize = 200;

/// Two slots; `queue` waiting places for `queue_timeout_ms`; a request may take 2 s.
fn server(dir: &std::path::Path, queue: &str, queue_timeout_ms: &str) -> Server {
    server_with(dir, queue, queue_timeout_ms, "2000")
}

fn server_with(dir: &std::path::Path, queue: &str, queue_timeout_ms: &str, request_timeout_ms: &str) -> Server {
    let url = format!("file:{}", dir.join("overload.db").display());
    Server::start(
        dir,
        &[
            ("DATABASE_URL", url.as_str()),
            ("AUTHBRIDGE_REQUEST_TIMEOUT_MS", request_timeout_ms),
            ("AUTHBRIDGE_MAX_CONCURRENT_REQUESTS", "2"),
            ("AUTHBRIDGE_MAX_QUEUED_REQUESTS", queue),
            ("AUTHBRIDGE_QUEUE_TIMEOUT_MS", queue_timeout_ms),
        ],
    )
}

/// A connection that holds a slot: the head of a POST is sent, its body never completes.
fn slot_holder(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let head = "POST /v1/adapter/getUser HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"id\":";
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

fn create_user(address: &str, i: usize) -> Outcome {
    let body = format!(r#"{{"user":{{"email":"refused-{i}@example.com","emailVerified":null}}}}"#);
    http(address, "POST", "/v1/adapter/createUser", &body, TIMEOUT)
}

fn metric(server: &Server, line_start: &str) -> f64 {
    let (status, text) = server.request("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    text.lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Every refused request is a write (createUser) that would leave a row behind had it reached the
/// database; none does.
fn refused_requests_never_reach_the_database() {
    let dir = tempfile::tempdir().unwrap();
    // The slots are held (60 s request timeout) until the holders hang up, however slow the machine.
    let server = server_with(dir.path(), "0", "30", "60000");
    let holders = [slot_holder(&server.address), slot_holder(&server.address)];
    // Until the holders are admitted a request is served: probe (a read) until one is refused,
    // however slow the machine. That one refusal is counted below with the others.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, answer) = server.request("GET", "/metrics", &[], "");
        if status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot holders were never admitted: {status} {answer:.200}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut refused = REFUSED + 1;
    let mut took = Vec::with_capacity(REFUSED);
    for i in 0..REFUSED {
        let started = Instant::now();
        let outcome = create_user(&server.address, i);
        took.push(started.elapsed());
        assert!(matches!(outcome, Outcome::Answered { status: 503, retry_after: true, .. }), "{outcome:?}");
        let problem = outcome.json();
        assert_eq!(problem["code"], "unavailable", "{problem}");
        assert_eq!(problem["status"], 503, "{problem}");
        assert!(problem["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{problem}");
    }
    drop(holders);
    // The server frees the slots once it sees the holders hang up: probe until it has (a refused
    // probe is counted with the others).
    while server.request("GET", "/metrics", &[], "").0 == 503 {
        refused += 1;
        assert!(Instant::now() < deadline + TIMEOUT, "the slots were never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
    took.sort();
    eprintln!(
        "refused requests, answered in (fresh connection each, client side): median {:?}, p99 {:?}, max {:?}",
        took[REFUSED / 2],
        took[REFUSED * 99 / 100],
        took[REFUSED - 1]
    );
    for i in 0..REFUSED {
        let outcome = http(
            &server.address,
            "POST",
            "/v1/adapter/getUserByEmail",
            &format!(r#"{{"email":"refused-{i}@example.com"}}"#),
            TIMEOUT,
        );
        assert_eq!(outcome.status(), Some(200), "{outcome:?}");
        assert_eq!(outcome.json(), serde_json::Value::Null, "refused createUser {i} reached the database");
    }
    assert_eq!(metric(&server, "authbridge_admission_shed_total{reason=\"queue_full\"}"), refused as f64);
    assert_eq!(
        metric(&server, "authbridge_http_requests_total{method=\"POST\",route=\"/v1/adapter/createUser\""),
        0.0,
        "no refused request reached the handlers"
    );
    // The summary line comes from a task ticking once a second.
    std::thread::sleep(Duration::from_millis(2100));
    let log = server.stop();
    assert!(log.contains("requests in the last second"), "a summary line:\n{log}");
    let summed: u64 = log
        .lines()
        .filter(|line| line.contains("requests in the last second"))
        .filter_map(|line| line.split("shed ").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(summed, refused as u64, "the summary lines add up to the refusals:\n{log}");
    assert!(!log.contains("/v1/adapter/createUser"), "no request line for a refused request:\n{log}");
}

/// Beyond the limit a request waits; it is served once a slot frees, and refused only when its
/// wait runs out.
fn queued_requests_are_served_when_a_slot_frees() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), "4", "5000");
    let mut holders = [slot_holder(&server.address), slot_holder(&server.address)];
    std::thread::sleep(Duration::from_millis(200));
    let address = server.address.clone();
    let queued = std::thread::spawn(move || create_user(&address, 0));
    // The holders are cut off by the 2 s request timeout, well within the 5 s queue timeout.
    for holder in &mut holders {
        assert_eq!(read_response(holder).status(), Some(408));
    }
    let outcome = queued.join().unwrap();
    assert_eq!(outcome.status(), Some(200), "{outcome:?}");
    assert_eq!(metric(&server, "authbridge_admission_queued_total"), 1.0);
    assert_eq!(metric(&server, "authbridge_admission_shed_total{reason=\"queue_timeout\"}"), 0.0);
    drop(server);

    let server = self::server(dir.path(), "4", "100");
    let mut holders = [slot_holder(&server.address), slot_holder(&server.address)];
    std::thread::sleep(Duration::from_millis(200));
    let outcome = create_user(&server.address, 1);
    assert!(matches!(outcome, Outcome::Answered { status: 503, retry_after: true, .. }), "{outcome:?}");
    for holder in &mut holders {
        assert_eq!(read_response(holder).status(), Some(408));
    }
    // /metrics is not exempt: it is read once the slots are free.
    assert_eq!(metric(&server, "authbridge_admission_shed_total{reason=\"queue_timeout\"}"), 1.0);
}

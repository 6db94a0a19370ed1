//! `authbridge healthcheck` against the real binary: its exit code follows `/readyz` of a running
//! server (200, then 503, then a stopped server), it gives up on a server that never answers, and
//! it never needs or opens the database.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;

use crate::binary::{Outcome, Server, command, http};

crate::harness::tests! {
    sync:
        the_exit_code_follows_readyz_then_the_stopped_server,
        a_server_that_never_answers_fails_the_check_after_its_timeout,
        a_url_that_is_not_plain_http_fails_the_check,
        help_states_the_timeout_it_applies;
}

/// Only a guard against a hung check failing the run slowly: the check's own limit is
/// `authbridge::healthcheck::TIMEOUT`.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Runs `authbridge healthcheck ARGS` in `dir` with only `env` set; returns its exit code and stderr.
fn healthcheck(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = command(&[&["healthcheck"], args].concat());
    command.current_dir(dir).stdout(Stdio::null()).stderr(Stdio::piped());
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("the binary starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            panic!("authbridge healthcheck {args:?} still runs after {HANG_GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn assert_healthy(dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    let (code, stderr) = healthcheck(dir, args, env);
    assert_eq!(code, Some(0), "healthcheck {args:?} {env:?}: {stderr}");
    assert!(stderr.is_empty(), "a passing check prints nothing: {stderr}");
}

/// Exit 1 with exactly one line on stderr that contains `reason`.
fn assert_unhealthy(dir: &Path, args: &[&str], reason: &str) {
    let (code, stderr) = healthcheck(dir, args, &[]);
    assert_eq!(code, Some(1), "healthcheck {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.starts_with("authbridge: healthcheck ") && stderr.contains(reason), "{reason}: {stderr}");
}

fn the_exit_code_follows_readyz_then_the_stopped_server() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("health.db");
    let url = format!("file:{}", database.display());
    let mut server = Server::start(dir.path(), &[("DATABASE_URL", &url)]);
    let readyz = format!("http://{}/readyz", server.address);
    let port = server.address.rsplit(':').next().unwrap().to_owned();

    // The check needs neither DATABASE_URL nor the database: run where no database is, with URLs
    // that could not be parsed or reached, it still passes and creates nothing.
    let elsewhere = tempfile::tempdir().unwrap();
    assert_healthy(elsewhere.path(), &["--url", &readyz], &[]);
    assert_healthy(elsewhere.path(), &["--url", &readyz], &[("DATABASE_URL", "nonsense://")]);
    assert_healthy(elsewhere.path(), &["--bind", &server.address], &[("DATABASE_URL", "postgresql://x@127.0.0.1:1/x")]);
    assert_healthy(elsewhere.path(), &[], &[("AUTHBRIDGE_HEALTHCHECK_URL", &readyz)]);
    // As in the image: AUTHBRIDGE_BIND=0.0.0.0:PORT is checked through 127.0.0.1.
    assert_healthy(elsewhere.path(), &[], &[("AUTHBRIDGE_BIND", &format!("0.0.0.0:{port}"))]);
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "the check created no file");

    // A schema that lost a column authbridge reads: /readyz answers 503, the check fails.
    let mut sqlite = diesel::SqliteConnection::establish(database.to_str().unwrap()).unwrap();
    sqlite.batch_execute("ALTER TABLE users DROP COLUMN image").unwrap();
    drop(sqlite);
    assert_eq!(http(&server.address, "GET", "/readyz", "", HANG_GUARD).status(), Some(503));
    assert_unhealthy(dir.path(), &["--url", &readyz], "503 Service Unavailable");

    server.signal("TERM");
    assert!(server.wait_exit(HANG_GUARD).is_some_and(|s| s.success()), "{}", server.log());
    assert_eq!(http(&server.address, "GET", "/readyz", "", HANG_GUARD), Outcome::Refused);
    assert_unhealthy(dir.path(), &["--url", &readyz], "cannot connect");
    assert_unhealthy(dir.path(), &["--bind", &server.address], "cannot connect");
}

fn a_server_that_never_answers_fails_the_check_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // The kernel completes the connection into the backlog; nobody ever reads the request.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", silent.local_addr().unwrap());
    let seconds = authbridge::healthcheck::TIMEOUT.as_secs();
    assert_unhealthy(dir.path(), &["--url", &url], &format!("no answer within {seconds} s"));
}

fn a_url_that_is_not_plain_http_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    assert_unhealthy(dir.path(), &["--url", "https://127.0.0.1:1/readyz"], "only http:// URLs");
    assert_unhealthy(dir.path(), &["--url", "not a url"], "not a URL");
}

fn help_states_the_timeout_it_applies() {
    let output = command(&["healthcheck", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    let seconds = authbridge::healthcheck::TIMEOUT.as_secs();
    assert!(help.contains(&format!("within {seconds} s")), "{help}");
}

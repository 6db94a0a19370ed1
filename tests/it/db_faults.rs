//! Database faults: PostgreSQL stopped under load (`pg_ctl stop -m fast`, then `-m immediate`,
//! a crash) and started again, against the real binary.
//!
//! It needs a PostgreSQL cluster of its own, which it creates with `initdb` in a temporary
//! directory (as the `postgres` OS user when run as root), because stopping the shared server
//! would break every other test. So it is `#[ignore]`d in a plain `cargo test`; `.ci/run` runs it
//! with `cargo test --test it db_faults -- --ignored`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::binary::{Outcome, Server, http};
use crate::harness::Need;
use crate::servers::PrivatePg;

crate::harness::tests! {
    sync needs [Need::PostgresServer] ignore "needs a private PostgreSQL cluster (initdb); .ci/run runs it":
        postgres_stopped_under_load_gives_503_and_recovers_without_restart;
}

const POOL_TIMEOUT_MS: u64 = 1000;
/// A stopped server refuses connections at once, so a request waits at most the pool's wait
/// timeout (plus scheduling on a busy machine); anything longer is a hang.
const NO_HANG: Duration = Duration::from_millis(POOL_TIMEOUT_MS + 500);
const RECOVERY: Duration = Duration::from_secs(5);
const OUTAGE: Duration = Duration::from_secs(2);

/// One request of the load: when it started (since the load began), how long it took, what it was.
#[derive(Debug, Clone)]
struct Sample {
    started: Duration,
    took: Duration,
    call: &'static str,
    outcome: Outcome,
}

/// What the clients were told succeeded.
#[derive(Default)]
struct Acknowledged {
    users: Vec<(String, String)>,
    sessions: Vec<String>,
    deleted_sessions: Vec<String>,
}

fn client(
    address: String,
    t: usize,
    t0: Instant,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    acknowledged: Arc<Mutex<Acknowledged>>,
) {
    let call = |name: &'static str, body: serde_json::Value| {
        let started = t0.elapsed();
        let outcome =
            http(&address, "POST", &format!("/v1/adapter/{name}"), &body.to_string(), Duration::from_secs(30));
        samples.lock().unwrap().push(Sample {
            started,
            took: t0.elapsed() - started,
            call: name,
            outcome: outcome.clone(),
        });
        outcome
    };
    let mut mine: Vec<String> = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let email = format!("fault-{t}-{i}@example.com");
        let created = call("createUser", json!({ "user": { "email": email } }));
        if created.status() == Some(200) {
            let id = created.json()["id"].as_str().unwrap().to_owned();
            acknowledged.lock().unwrap().users.push((id.clone(), email));
            let token = format!("fault-{t}-{i}");
            let session =
                json!({ "session": { "sessionToken": token, "userId": id, "expires": "2099-01-01T00:00:00Z" } });
            if call("createSession", session).status() == Some(200) {
                acknowledged.lock().unwrap().sessions.push(token.clone());
                mine.push(token);
            }
        }
        if i % 3 == 2
            && let Some(token) = mine.first().cloned()
            && call("deleteSession", json!({ "sessionToken": token })).status() == Some(200)
        {
            acknowledged.lock().unwrap().deleted_sessions.push(token);
            mine.remove(0);
        }
        if let Some(token) = mine.last() {
            call("getSessionAndUser", json!({ "sessionToken": token }));
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// What one outage showed.
struct Round {
    mode: &'static str,
    stopped: Duration,
    restarting: Duration,
    started: Duration,
    readyz_503_after: Duration,
    recovered_after: Duration,
}

fn postgres_stopped_under_load_gives_503_and_recovers_without_restart() {
    let pg = PrivatePg::create(55432..=55439, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let timeout = POOL_TIMEOUT_MS.to_string();
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            ("AUTHBRIDGE_POOL_TIMEOUT_MS", timeout.as_str()),
            ("AUTHBRIDGE_POOL_SIZE", "4"),
            ("RUST_LOG", "warn,authbridge=info,authbridge::request=warn"),
        ],
    );
    let address = server.address.clone();
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let acknowledged: Arc<Mutex<Acknowledged>> = Arc::default();
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (address, stop, samples, acknowledged) =
                (address.clone(), Arc::clone(&stop), Arc::clone(&samples), Arc::clone(&acknowledged));
            thread::spawn(move || client(address, t, t0, stop, samples, acknowledged))
        })
        .collect();
    let probe = |path: &str, body: &str| {
        http(&address, if body.is_empty() { "GET" } else { "POST" }, path, body, Duration::from_secs(30))
    };
    let wait_for = |what: &str, limit: Duration, ok: &dyn Fn() -> bool| {
        let since = Instant::now();
        while !ok() {
            assert!(since.elapsed() < limit, "{what} did not happen within {limit:?}:\n{}", server.log());
            thread::sleep(Duration::from_millis(20));
        }
        since.elapsed()
    };

    thread::sleep(Duration::from_secs(1));
    let mut rounds = Vec::new();
    for mode in ["fast", "immediate"] {
        let stopping = t0.elapsed();
        pg.stop(mode);
        let stopped = t0.elapsed();
        let readyz_503_after = wait_for("/readyz 503", NO_HANG, &|| probe("/readyz", "").status() == Some(503));
        thread::sleep(OUTAGE);
        assert_eq!(probe("/readyz", "").status(), Some(503), "/readyz during the outage");
        let restarting = t0.elapsed();
        pg.start();
        let started = t0.elapsed();
        let recovered_after = wait_for("a createUser answered 200 after the restart", RECOVERY, &|| {
            probe("/v1/adapter/createUser", r#"{"user":{}}"#).status() == Some(200)
        });
        assert_eq!(probe("/readyz", "").status(), Some(200), "/readyz after the restart");
        rounds.push(Round {
            mode,
            stopped,
            restarting,
            started,
            readyz_503_after: readyz_503_after + (stopped - stopping),
            recovered_after,
        });
        thread::sleep(Duration::from_secs(1));
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let samples = samples.lock().unwrap().clone();
    let log = server.log();

    // Every request was answered: 200, or 503 `unavailable` with Retry-After, never anything else,
    // and never later than the pool's timeouts allow.
    for s in &samples {
        match &s.outcome {
            Outcome::Answered { status: 200, .. } => {}
            Outcome::Answered { status: 503, retry_after, .. } => {
                assert!(retry_after, "503 without Retry-After: {s:?}");
                assert_eq!(s.outcome.json()["code"], "unavailable", "{s:?}");
            }
            _ => panic!("{} at {:?}: {:?}\n{log}", s.call, s.started, s.outcome),
        }
        assert!(s.took <= NO_HANG, "{} took {:?} (started at {:?})", s.call, s.took, s.started);
    }
    // While the database was down, nothing succeeded.
    for round in &rounds {
        for s in samples.iter().filter(|s| s.started >= round.stopped && s.started + s.took <= round.restarting) {
            assert_eq!(s.outcome.status(), Some(503), "{} during the {} outage: {s:?}", s.call, round.mode);
        }
    }
    assert!(!log.contains("database error"), "an unclassified database error was logged:\n{log}");

    // No success was reported for a write that did not commit.
    let acknowledged = acknowledged.lock().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let users: Vec<String> =
            client.query("SELECT email FROM users", &[]).await.unwrap().iter().filter_map(|r| r.get(0)).collect();
        for (_, email) in &acknowledged.users {
            assert!(users.contains(email), "{email}: createUser answered 200 but the user is missing");
        }
        let sessions: Vec<String> = client
            .query(r#"SELECT "sessionToken" FROM sessions"#, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        for token in &acknowledged.sessions {
            let deleted = acknowledged.deleted_sessions.contains(token);
            assert_eq!(
                sessions.contains(token),
                !deleted,
                "{token}: acknowledged {}",
                if deleted { "deleted" } else { "created" }
            );
        }
    });

    // The figures for the README.
    eprintln!(
        "FIGURES db-faults: {} requests, {:?}; acknowledged: {} users, {} sessions, {} session deletions, all verified",
        samples.len(),
        distribution(samples.iter()),
        acknowledged.users.len(),
        acknowledged.sessions.len(),
        acknowledged.deleted_sessions.len()
    );
    for round in &rounds {
        let during: Vec<&Sample> =
            samples.iter().filter(|s| s.started + s.took >= round.stopped && s.started < round.started).collect();
        let unavailable: Vec<&Sample> = during.iter().copied().filter(|s| s.outcome.status() == Some(503)).collect();
        let slowest = unavailable.iter().map(|s| s.took).max().unwrap_or_default();
        let mut latencies: Vec<Duration> = unavailable.iter().map(|s| s.took).collect();
        latencies.sort();
        let median = latencies.get(latencies.len() / 2).copied().unwrap_or_default();
        let after: Vec<&Sample> = samples
            .iter()
            .filter(|s| {
                s.started >= round.started
                    && s.started < round.started + round.recovered_after + Duration::from_millis(500)
            })
            .collect();
        eprintln!(
            "FIGURES db-faults stop -m {}: during the outage {} requests {:?}, 503 answered in median {} ms, max {} ms; \
             /readyz 503 {} ms after the stop began; first 200 {} ms after PostgreSQL was back; \
             right after the restart {:?}",
            round.mode,
            during.len(),
            distribution(during.iter().copied()),
            median.as_millis(),
            slowest.as_millis(),
            round.readyz_503_after.as_millis(),
            round.recovered_after.as_millis(),
            distribution(after.iter().copied()),
        );
    }
    drop(server);
}

fn distribution<'a>(samples: impl Iterator<Item = &'a Sample>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for s in samples {
        *counts.entry(s.outcome.label()).or_default() += 1;
    }
    counts
}

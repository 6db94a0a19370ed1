//! Admission control: how many requests run at once, how many may wait for a turn and for how
//! long, and the cheap refusal of the rest.
//!
//! Without it, every request beyond the pool's capacity either waits in the pool (for up to
//! `--pool-timeout-ms`, far longer than a page can wait) or, with a plain limit, is refused at once,
//! and a client that retries at once (a load generator, a busy front end) then spends the CPU on
//! refusals instead of answers: goodput collapses. Here a request beyond the limit waits in a
//! bounded FIFO queue for at most `--queue-timeout-ms`; only when the queue is full or the wait
//! runs out is it refused, with a 503 whose body was serialised at start-up, before its body is
//! read and before it reaches the request log, the metrics labels or the database.
//!
//! The limit is fixed (twice the pool by default), not adaptive: every admitted request needs at
//! most one pool connection, so the pool bounds what the database is asked to do, and the queue
//! deadline bounds the latency a caller sees. An AIMD or gradient limit (tower has none; the crates
//! that do were small or unmaintained) would mostly rediscover the pool size.
//!
//! The deadline depends on whether the queue is standing (CoDel's idea): a burst that finds the
//! queue empty may wait up to [`BURST_QUEUE_TIMEOUT`] (a page that fires many checks at once
//! should be served a little late, not refused), but once the queue has not been empty for
//! [`STANDING_QUEUE_INTERVAL`] the service is overloaded rather than busy, and a request waits at
//! most `--queue-timeout-ms`, so that what is admitted stays fast and the excess is refused early.
//!
//! Refusals are counted, never logged one by one: a task logs at most one summary line a second.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use tokio::sync::Semaphore;

use crate::error::Refusal;
use crate::headers::{REQUEST_ID, header_name};

pub const ADMITTED: &str = "authbridge_admission_admitted_total";
pub const QUEUED: &str = "authbridge_admission_queued_total";
pub const SHED: &str = "authbridge_admission_shed_total";
pub const LIMIT: &str = "authbridge_admission_limit";
pub const QUEUE_DEPTH: &str = "authbridge_admission_queue_depth";

/// How long the queue must have stayed non-empty before a waiting request gets only
/// `--queue-timeout-ms`.
pub const STANDING_QUEUE_INTERVAL: Duration = Duration::from_millis(100);
/// The longest wait of a request that joins a queue that is not standing (a burst); never less
/// than `--queue-timeout-ms`.
pub const BURST_QUEUE_TIMEOUT: Duration = Duration::from_millis(500);

/// Marks a refused request's response, so that the request log skips it.
#[derive(Clone, Copy, Debug)]
pub struct Shed;

/// The admission settings and state of one router.
pub struct Admission {
    /// One permit per request in flight; `None` without a limit.
    slots: Option<Semaphore>,
    max_queued: usize,
    queue_timeout: Duration,
    burst_timeout: Duration,
    /// When the queue was last seen empty, in milliseconds since `started`.
    last_empty_ms: AtomicU64,
    started: Instant,
    /// Requests never held back (the health checks).
    exempt: fn(&Request) -> bool,
    waiting: AtomicUsize,
    /// Refusals since the last summary line.
    unreported: AtomicU64,
    reporter_started: AtomicBool,
    refusal: Refusal,
    admitted: Counter,
    queued: Counter,
    shed_queue_full: Counter,
    shed_queue_timeout: Counter,
    depth: Gauge,
}

impl Admission {
    /// `limit` 0: no limit (and so no queue).
    pub fn new(limit: usize, max_queued: usize, queue_timeout: Duration, exempt: fn(&Request) -> bool) -> Arc<Self> {
        describe();
        gauge!(LIMIT).set(limit as f64);
        Arc::new(Self {
            slots: (limit > 0).then(|| Semaphore::new(limit)),
            max_queued,
            queue_timeout,
            burst_timeout: queue_timeout.max(BURST_QUEUE_TIMEOUT),
            last_empty_ms: AtomicU64::new(0),
            started: Instant::now(),
            exempt,
            waiting: AtomicUsize::new(0),
            unreported: AtomicU64::new(0),
            reporter_started: AtomicBool::new(false),
            refusal: Refusal::new("the service is at capacity; retry after Retry-After seconds"),
            admitted: counter!(ADMITTED),
            queued: counter!(QUEUED),
            shed_queue_full: counter!(SHED, "reason" => "queue_full"),
            shed_queue_timeout: counter!(SHED, "reason" => "queue_timeout"),
            depth: gauge!(QUEUE_DEPTH),
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn saw_empty_queue(&self) {
        self.last_empty_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long a request joining the queue now may wait: see the module's documentation.
    fn deadline(&self) -> Duration {
        let standing_for = self.now_ms().saturating_sub(self.last_empty_ms.load(Ordering::Relaxed));
        if Duration::from_millis(standing_for) >= STANDING_QUEUE_INTERVAL {
            self.queue_timeout
        } else {
            self.burst_timeout
        }
    }

    fn refuse(self: &Arc<Self>, request: &Request, counter: &Counter) -> Response {
        counter.increment(1);
        self.unreported.fetch_add(1, Ordering::Relaxed);
        if !self.reporter_started.swap(true, Ordering::Relaxed) {
            tokio::spawn(report_every_second(Arc::downgrade(self)));
        }
        let mut response = self.refusal.respond(request.headers().get(header_name(REQUEST_ID)));
        response.extensions_mut().insert(Shed);
        response
    }
}

fn describe() {
    describe_counter!(ADMITTED, "Requests admitted by admission control (at once or after queueing).");
    describe_counter!(QUEUED, "Requests that had to wait in the admission queue for a slot.");
    describe_counter!(SHED, "Requests refused with 503 by admission control, by reason (queue_full, queue_timeout).");
    describe_gauge!(LIMIT, "Requests admitted at once (--max-concurrent-requests; 0 = no limit).");
    describe_gauge!(QUEUE_DEPTH, "Requests waiting in the admission queue.");
}

/// One line a second at most, while requests are being refused; ends with the router.
async fn report_every_second(admission: Weak<Admission>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(admission) = admission.upgrade() else { return };
        let shed = admission.unreported.swap(0, Ordering::Relaxed);
        if shed > 0 {
            tracing::warn!(
                shed,
                waiting = admission.waiting.load(Ordering::Relaxed),
                "shed {shed} requests in the last second (at capacity)"
            );
        }
    }
}

/// Counts a request as waiting until it leaves the queue, admitted, refused or abandoned.
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let left = self.0.waiting.fetch_sub(1, Ordering::Relaxed) - 1;
        self.0.depth.set(left as f64);
        if left == 0 {
            self.0.saw_empty_queue();
        }
    }
}

/// Middleware: admit, queue or refuse. Health checks are never held back, so that an overloaded
/// but working instance is neither restarted (`/healthz`) nor taken out of its balancer
/// (`/readyz`, which still fails when the database does).
pub async fn admit(State(admission): State<Arc<Admission>>, request: Request, next: Next) -> Response {
    let Some(slots) = admission.slots.as_ref().filter(|_| !(admission.exempt)(&request)) else {
        return next.run(request).await;
    };
    if let Ok(_permit) = slots.try_acquire() {
        // Freed permits go to waiters first (tokio's semaphore is fair): nobody is queued.
        admission.saw_empty_queue();
        admission.admitted.increment(1);
        return next.run(request).await;
    }
    let depth = admission.waiting.fetch_add(1, Ordering::Relaxed) + 1;
    let waiting = Waiting(&admission);
    if depth > admission.max_queued {
        drop(waiting);
        return admission.refuse(&request, &admission.shed_queue_full);
    }
    admission.depth.set(depth as f64);
    admission.queued.increment(1);
    let acquired = tokio::time::timeout(admission.deadline(), slots.acquire()).await;
    drop(waiting);
    match acquired {
        Ok(Ok(_permit)) => {
            admission.admitted.increment(1);
            next.run(request).await
        }
        // The semaphore is never closed; a timeout is the only way here.
        _ => admission.refuse(&request, &admission.shed_queue_timeout),
    }
}

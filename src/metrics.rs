//! Prometheus metrics: `GET /metrics`.
//!
//! Counters and histograms go through the `metrics` facade into one process-wide
//! `metrics-exporter-prometheus` recorder, installed on first use (tests build many routers in
//! one process; they all share it). Pool figures are not recorded as they change: they are read
//! from the pool of the app being scraped, at scrape time.
//!
//! Labels only ever hold values from fixed sets (route templates, HTTP methods, status classes,
//! table names), never anything taken from a request, so a token or an id cannot reach them.

#![allow(unused_qualifications, reason = "`#[utoipa::path]` spells out the paths of the types it is given")]

use std::cell::RefCell;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::auth::CallerKey;
use crate::openapi::OPERATIONS;

pub const REQUESTS_TOTAL: &str = "authbridge_http_requests_total";
pub const REQUEST_DURATION: &str = "authbridge_http_request_duration_seconds";
pub const POOL_MAX: &str = "authbridge_db_pool_max_connections";
pub const POOL_OPEN: &str = "authbridge_db_pool_connections";
pub const POOL_IN_USE: &str = "authbridge_db_pool_connections_in_use";
pub const POOL_WAITING: &str = "authbridge_db_pool_waiting_requests";
/// Incremented by the purge code with label `table` = `sessions` | `verification_tokens`.
pub const PURGED_ROWS: &str = crate::purge::PURGED_ROWS_METRIC;
pub const BUILD_INFO: &str = "authbridge_build_info";

/// The route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets in seconds: a session read takes well under a millisecond on a warm pool;
/// the upper buckets catch pool waits (default 2 s) and the request timeout (default 10 s).
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Serialises "set the pool gauges, then render", so that two apps in one process (tests) each
/// see their own pool in their own scrape.
static SCRAPE: Mutex<()> = Mutex::new(());

/// The process-wide recorder, installed on the first call. If another recorder was installed
/// first (an embedding program's), ours still renders whatever reaches it: nothing, then.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), &LATENCY_BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will only show pool figures");
        }
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(
        REQUESTS_TOTAL,
        "HTTP requests answered, by method, route template, status class and API key name."
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route template."
    );
    describe_gauge!(POOL_MAX, "Largest number of database connections the pool may open.");
    describe_gauge!(POOL_OPEN, "Database connections currently open.");
    describe_gauge!(POOL_IN_USE, "Database connections currently lent to a request.");
    describe_gauge!(POOL_WAITING, "Requests waiting for a free database connection.");
    describe_counter!(PURGED_ROWS, "Expired rows deleted by the purge, by table.");
    describe_gauge!(BUILD_INFO, "Always 1; the labels say which build is running.");
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    crate::rotation::describe();
    // Registered up front so that a dashboard sees 0, not "no data", before the first purge.
    for table in crate::db::tables::purged() {
        counter!(PURGED_ROWS, "table" => table.name).increment(0);
    }
}

/// Drains histogram samples into their buckets; without it they pile up between scrapes.
pub fn spawn_upkeep() {
    let handle = handle();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = OPERATIONS, security(("bearerAuth" = ["ops"])), summary = "Prometheus metrics",
    description = "Prometheus text format: requests by route template and status class, latency histograms, \
                   database pool figures, purge counts and build information.",
    responses((status = 200, body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn render(State(state): State<AppState>) -> Response {
    let handle = handle();
    let text = {
        let _one_scrape_at_a_time = SCRAPE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let status = state.db.pool_status();
        gauge!(POOL_MAX).set(status.max_size as f64);
        gauge!(POOL_OPEN).set(status.size as f64);
        gauge!(POOL_IN_USE).set(status.size.saturating_sub(status.available) as f64);
        gauge!(POOL_WAITING).set(status.waiting as f64);
        handle.render()
    };
    ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], text).into_response()
}

/// Middleware: counts every request and times it, labelled by route template.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let route = route_label(matched.as_ref());
    let key = CallerKey::name_in(response.extensions());
    let (requests, duration) = request_handles(method, route, status, key);
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
    response
}

/// The request counter and latency histogram of one label set.
#[derive(Clone)]
struct RequestHandles {
    method: &'static str,
    route: Box<str>,
    status: &'static str,
    key: Box<str>,
    requests: Counter,
    duration: Histogram,
}

/// Label sets a worker thread keeps handles for; beyond them the recorder is asked each time.
const CACHED_LABEL_SETS: usize = 64;

thread_local! {
    /// Looking a metric up in the recorder builds its key (label strings and all) and hashes it,
    /// a few thousand instructions per request; the label sets are few (route templates, status
    /// classes, key names), so each worker thread keeps the handles it has used.
    static REQUEST_HANDLES: RefCell<Vec<RequestHandles>> = const { RefCell::new(Vec::new()) };
}

fn request_handles(method: &'static str, route: &str, status: &'static str, key: &str) -> (Counter, Histogram) {
    REQUEST_HANDLES.with_borrow_mut(|cached| {
        let same = |h: &&RequestHandles| {
            h.method == method && h.status == status && *h.route == *route && *h.key == *key
        };
        if let Some(found) = cached.iter().find(same) {
            return (found.requests.clone(), found.duration.clone());
        }
        let requests = counter!(REQUESTS_TOTAL, "method" => method, "route" => route.to_owned(), "status_class" => status, "key" => key.to_owned());
        let duration = histogram!(REQUEST_DURATION, "method" => method, "route" => route.to_owned());
        if cached.len() < CACHED_LABEL_SETS {
            cached.push(RequestHandles {
                method,
                route: route.into(),
                status,
                key: key.into(),
                requests: requests.clone(),
                duration: duration.clone(),
            });
        }
        (requests, duration)
    })
}

/// Extension methods are free text chosen by the client: they share one label value.
fn method_label(method: &Method) -> &'static str {
    static KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN.iter().find(|m| *m == method).map_or("other", Method::as_str)
}

/// The route template the request matched, for metrics and logs: each adapter method has its own
/// route, so they are told apart (their costs differ) while ids in paths never reach a label.
pub fn route_label(matched: Option<&MatchedPath>) -> &str {
    matched.map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
}

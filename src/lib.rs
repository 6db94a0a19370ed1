//! authbridge: the Auth.js / NextAuth database adapter contract over HTTP, on the exact tables
//! Prisma manages.
//!
//! [`app`] builds the whole HTTP service from an [`AppState`]; `main.rs` only parses the command
//! line and calls [`startup::run`]. Tests drive [`app`] in-process.

pub mod admission;
pub mod at_rest;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod error;
pub mod handlers;
pub mod headers;
pub mod healthcheck;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod purge;
pub mod rotation;
pub mod router;
pub mod server;
pub mod startup;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::auth::ApiKeys;
use crate::config::UnknownFields;
use crate::db::Db;

/// Runtime settings the handlers need (the rest of the configuration is consumed at start-up).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Accepted bearer keys; empty means no authentication (loopback only).
    pub api_keys: ApiKeys,
    pub session_max_age: u64,
    pub session_update_age: u64,
    pub unknown_fields: UnknownFields,
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Largest request line plus headers, in bytes (431 above).
    pub max_header_bytes: usize,
    /// Requests handled at once (the rest queue); 0 = no limit.
    pub max_concurrent_requests: usize,
    /// Requests that may wait for a slot (503 at once beyond).
    pub max_queued_requests: usize,
    /// How long a request may wait for a slot (503 after).
    pub queue_timeout: Duration,
    /// 0 = no limit.
    pub max_sessions_per_user: u32,
    pub purge_batch_size: std::num::NonZeroU32,
    /// How long the session cache keeps an answer; zero: no cache (see [`cache`]).
    pub session_cache_ttl: Duration,
    /// Entries the session cache holds at most.
    pub session_cache_size: std::num::NonZeroUsize,
    /// Rotated-out tokens: their grace window and what a later use does.
    pub rotation: rotation::Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_keys: ApiKeys::default(),
            session_max_age: config::DEFAULT_SESSION_MAX_AGE,
            session_update_age: config::DEFAULT_SESSION_UPDATE_AGE,
            unknown_fields: UnknownFields::Drop,
            body_limit: config::DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_millis(config::DEFAULT_REQUEST_TIMEOUT_MS),
            max_header_bytes: config::DEFAULT_MAX_HEADER_BYTES,
            max_concurrent_requests: config::DEFAULT_POOL_SIZE * config::ADMITTED_PER_POOL_CONNECTION,
            max_queued_requests: config::DEFAULT_MAX_QUEUED_REQUESTS,
            queue_timeout: Duration::from_millis(config::DEFAULT_QUEUE_TIMEOUT_MS),
            max_sessions_per_user: 0,
            purge_batch_size: config::DEFAULT_PURGE_BATCH_SIZE,
            session_cache_ttl: Duration::ZERO,
            session_cache_size: cache::DEFAULT_SIZE,
            rotation: rotation::Policy::default(),
        }
    }
}

pub struct AppInner {
    pub db: Db,
    pub settings: Settings,
    /// The opt-in session cache, when `session_cache_ttl` is not zero.
    pub session_cache: Option<Arc<cache::SessionCache>>,
}

/// Shared by every request: the pool, the settings and the opt-in session cache (the only session
/// state an instance may hold, see [`cache`]).
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

impl AppState {
    /// With the session cache on PostgreSQL, this spawns its listener: call it inside a tokio
    /// runtime.
    pub fn new(db: Db, settings: Settings) -> Self {
        let session_cache = (!settings.session_cache_ttl.is_zero())
            .then(|| cache::SessionCache::start(&db, settings.session_cache_ttl, settings.session_cache_size));
        // The writes announce themselves to the other instances' caches only when there are any.
        let db = if session_cache.is_some() { db.notifying() } else { db };
        Self(Arc::new(AppInner { db, settings, session_cache }))
    }

    pub fn session_cache(&self) -> Option<&cache::SessionCache> {
        self.session_cache.as_deref()
    }

    /// After a committed write: see [`cache::written`].
    pub fn written(&self, changes: &[cache::Change]) {
        cache::written(self.session_cache(), changes);
    }
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// The complete HTTP service.
pub fn app(state: AppState) -> Router {
    router::router(state)
}

//! authbridge: the Auth.js / NextAuth database adapter contract over HTTP, on the exact tables
//! Prisma manages.
//!
//! [`app`] builds the whole HTTP service from an [`AppState`]; `main.rs` only parses the command
//! line and calls [`startup::run`]. Tests drive [`app`] in-process.

pub mod admission;
pub mod at_rest;
pub mod auth;
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
        }
    }
}

pub struct AppInner {
    pub db: Db,
    pub settings: Settings,
}

/// Shared by every request: the pool and the settings. Holds no session state.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

impl AppState {
    pub fn new(db: Db, settings: Settings) -> Self {
        Self(Arc::new(AppInner { db, settings }))
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

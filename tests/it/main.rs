//! The one integration-test binary. Every test runs against SQLite always and against
//! PostgreSQL when TEST_POSTGRES_URL is set (required when CI=true); each test gets its own
//! database.

mod support;

mod auth;
mod bad_input;
mod catalog;
mod cli;
mod concurrency;
mod contract;
mod hot_path;
mod ops;
mod secrets;
mod sessions;
mod startup;

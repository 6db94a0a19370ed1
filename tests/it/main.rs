//! The one integration-test binary. Every test runs against SQLite always and against
//! PostgreSQL and MySQL / MariaDB when TEST_POSTGRES_URL / TEST_MYSQL_URL are set (required when
//! CI=true); each test gets its own database. The tests need all three backend features (the
//! default).

mod support;

mod auth;
mod bad_input;
mod catalog;
mod cli;
mod concurrency;
mod contract;
mod db_faults;
mod healthcheck;
mod hot_path;
mod limits;
mod mysql;
mod mysql_tls;
mod ops;
mod process;
mod process_faults;
mod relation_mode;
mod secrets;
mod servers;
mod sessions;
mod startup;
mod tls;

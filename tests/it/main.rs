//! The one integration-test binary; tests/README.md says how it is organised and run. Backend tests
//! run on SQLite always and on PostgreSQL (directly and through PgBouncer) and MySQL / MariaDB when
//! TEST_POSTGRES_URL / TEST_MYSQL_URL are set (required when CI=true); each test gets its own
//! database. The tests need all three backend features (the default).

mod harness;
mod support;

mod binary;
mod servers;

mod at_rest;
mod audit;
mod auth;
mod bad_input;
mod cache;
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
mod overload;
mod process_faults;
mod relation_mode;
mod rotation;
mod scopes;
mod secrets;
mod session_metadata;
mod sessions;
mod startup;
mod tls;

fn main() -> std::process::ExitCode {
    let tests = [
        harness::own_tests(),
        at_rest::tests(),
        audit::tests(),
        auth::tests(),
        bad_input::tests(),
        cache::tests(),
        cache::fixture_tests(),
        catalog::tests(),
        cli::tests(),
        concurrency::tests(),
        contract::tests(),
        contract::fixture_tests(),
        db_faults::tests(),
        healthcheck::tests(),
        hot_path::tests(),
        limits::tests(),
        mysql::tests(),
        mysql_tls::tests(),
        ops::tests(),
        overload::tests(),
        process_faults::tests(),
        relation_mode::tests(),
        rotation::tests(),
        scopes::tests(),
        secrets::tests(),
        session_metadata::tests(),
        sessions::tests(),
        startup::tests(),
        tls::tests(),
    ];
    harness::main(tests.into_iter().flatten().collect())
}

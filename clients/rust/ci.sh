#!/usr/bin/env bash
# CI for the Rust client (called by .ci/run once the release binary is built): rustfmt check,
# clippy -D warnings, then the crate's tests (unit, doc, the README example, and tests/it against
# the release binary on SQLite and PostgreSQL).
#   TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres clients/rust/ci.sh [test args]
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

. "$root/scripts/client-suite-env.sh" ab_test_rs_

cargo fmt -p authbridge-client -- --check
cargo clippy -p authbridge-client --all-targets --locked -- -D warnings
# The crate alone, without the axum extractor, must build too.
cargo check -p authbridge-client --no-default-features --locked
# Plain `cargo test` (not --all-targets, which builds examples as test harnesses instead) builds
# examples/readme, which tests/it/readme.rs runs, and runs the doc tests too.
cargo test -p authbridge-client --locked -- "$@"

# Sourced by the client suites' ci.sh (clients/python, clients/rust), with the suite's scratch
# database prefix: under CI the PostgreSQL URL is required, the release binary the suites start
# is built when missing, and scratch databases an interrupted earlier run left behind are dropped.
#   . "$root/scripts/client-suite-env.sh" ab_test_py_
if [ "${CI:-}" = "true" ] && [ -z "${TEST_POSTGRES_URL:-}" ]; then
  echo "CI=true but TEST_POSTGRES_URL is not set" >&2
  exit 1
fi
export AUTHBRIDGE_BIN="${AUTHBRIDGE_BIN:-$root/target/release/authbridge}"
[ -x "$AUTHBRIDGE_BIN" ] || (cd "$root" && cargo build --release --locked)
"$root/scripts/drop-leftover-databases.sh" "$1"

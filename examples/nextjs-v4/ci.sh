#!/usr/bin/env bash
# The next-auth v4 example end to end (called by .ci/run): clean install, one `next build`, then for
# SQLite and PostgreSQL: the real authbridge binary on a fresh database, `next start`, and the
# browser test (playwright-core driving Debian's chromium) against oauth2-mock-server.
# Screenshots go to artifacts/<backend>/. Any failure exits non-zero; everything started is stopped.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
root=$(cd ../.. && pwd)

# Ports of this example (see README.md): authbridge 18400 (SQLite) / 18401 (PostgreSQL), Next.js
# 3200, the OpenID Connect mock 18410.
APP_URL=http://127.0.0.1:3200
MOCK_PORT=18410
export NEXT_TELEMETRY_DISABLED=1
t0=$(date +%s)
elapsed() { echo "$(($(date +%s) - t0)) s"; }
rand_hex() { node -e 'process.stdout.write(require("node:crypto").randomBytes(Number(process.argv[1])).toString("hex"))' "$1"; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
if ! command -v chromium >/dev/null || ! command -v curl >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq chromium curl >/dev/null
fi
if [ -n "${TEST_POSTGRES_URL:-}" ] && ! command -v psql >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq postgresql-client >/dev/null
fi
if [ "${CI:-}" = "true" ] && [ -z "${TEST_POSTGRES_URL:-}" ]; then
  echo "CI=true but TEST_POSTGRES_URL is not set" >&2
  exit 1
fi
bin=${AUTHBRIDGE_BIN:-$root/target/release/authbridge}
if [ -z "${AUTHBRIDGE_BIN:-}" ] && [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release --locked)
fi
node --version
chromium --version 2>/dev/null || true

# Scratch databases an interrupted earlier run left behind.
../../scripts/drop-leftover-databases.sh ab_next4_

# postinstall builds the adapter (file:../../adapter) when its dist/ is missing or stale.
s=$(date +%s)
nice -n 5 npm ci --no-audit --no-fund
echo "npm ci: $(($(date +%s) - s)) s"
s=$(date +%s)
nice -n 5 ./node_modules/.bin/next build
echo "next build: $(($(date +%s) - s)) s"

work=$(mktemp -d)
pids=()
pg_db=""
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_db" ]; then psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" || true; fi
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] && { echo "--- $(basename "$log") (last 40 lines)"; tail -n 40 "$log"; }
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# wait_for URL WHAT PID: polls until URL answers 2xx; fails if the process died or after 30 s.
wait_for() {
  for _ in $(seq 1 300); do
    kill -0 "$3" 2>/dev/null || { echo "$2 exited before it was ready" >&2; return 1; }
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "$2 not ready within 30 s" >&2
  return 1
}

# ensure_free PORT: a server already there would answer the readiness polls in place of ours.
ensure_free() {
  if (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is already in use: stop what listens there" >&2
    return 1
  fi
}

# stop PID: SIGTERM and wait (the trap catches whatever is left).
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

ensure_free "$MOCK_PORT"
node test/mock-oidc.mjs "$MOCK_PORT" >"$work/mock-oidc.log" 2>&1 &
mock_pid=$!
pids+=("$mock_pid")
wait_for "http://127.0.0.1:$MOCK_PORT/.well-known/openid-configuration" "oauth2-mock-server" "$mock_pid"

# run_backend NAME DATABASE_URL PORT
run_backend() {
  local name=$1 database_url=$2 port=$3 key ab_pid app_pid s
  s=$(date +%s)
  key=$(rand_hex 24)
  ensure_free "$port"
  ensure_free 3200
  DATABASE_URL="$database_url" AUTHBRIDGE_BIND="127.0.0.1:$port" AUTHBRIDGE_API_KEYS="$key" RUST_LOG=warn \
    "$bin" >"$work/authbridge-$name.log" 2>&1 &
  ab_pid=$!
  pids+=("$ab_pid")
  wait_for "http://127.0.0.1:$port/readyz" "authbridge ($name)" "$ab_pid"

  AUTHBRIDGE_URL="http://127.0.0.1:$port" AUTHBRIDGE_API_KEY="$key" \
    OIDC_ISSUER="http://127.0.0.1:$MOCK_PORT" OIDC_CLIENT_ID=nextjs-v4-example OIDC_CLIENT_SECRET=not-checked-by-the-mock \
    MAGIC_LINK_FILE="$work/magic-link" NEXTAUTH_URL="$APP_URL" NEXTAUTH_SECRET="$(rand_hex 32)" \
    ./node_modules/.bin/next start -H 127.0.0.1 -p 3200 >"$work/next-$name.log" 2>&1 &
  app_pid=$!
  pids+=("$app_pid")
  wait_for "$APP_URL/" "next start ($name)" "$app_pid"

  echo "=== browser test on $name"
  APP_URL="$APP_URL" AUTHBRIDGE_URL="http://127.0.0.1:$port" AUTHBRIDGE_API_KEY="$key" \
    MAGIC_LINK_FILE="$work/magic-link" ARTIFACTS_DIR="$here/artifacts/$name" \
    node --test --test-reporter=spec --test-concurrency=1 --test-timeout=120000 test/browser.test.mjs

  stop "$app_pid"
  stop "$ab_pid"
  echo "browser test on $name: $(($(date +%s) - s)) s"
}

run_backend sqlite "file:$work/authbridge.db" 18400

if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  pg_db="ab_next4_$(rand_hex 6)"
  psql "$TEST_POSTGRES_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$pg_db\""
  pg_url=$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.toString())' \
    "$TEST_POSTGRES_URL" "$pg_db")
  run_backend postgresql "$pg_url" 18401
else
  echo "PostgreSQL skipped: TEST_POSTGRES_URL is not set"
fi

echo "screenshots:"
find "$here/artifacts" -name '*.png' | sort | sed "s|^$root/||"
echo "examples/nextjs-v4 passed in $(elapsed)"

#!/usr/bin/env bash
# CI for the TypeScript adapter (called by .ci/run): clean install, build, typecheck against both
# Auth.js v5's and next-auth v4's Adapter types, unit tests (contract fixture replay), then the
# integration tests against the real release binary on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
node --version

if [ "${CI:-}" = "true" ] && [ -z "${TEST_POSTGRES_URL:-}" ]; then
  echo "CI=true but TEST_POSTGRES_URL is not set" >&2
  exit 1
fi
if [ -z "${AUTHBRIDGE_BIN:-}" ] && [ ! -x ../target/release/authbridge ]; then
  (cd .. && cargo build --release --locked)
fi

# Scratch databases an interrupted earlier run left behind.
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  for db in $(psql "$TEST_POSTGRES_URL" -qtAc "SELECT datname FROM pg_database WHERE datname LIKE 'ab\_adapter\_%'"); do
    psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  done
fi

npm ci --no-audit --no-fund
npm run format:check
npm run build
npm run typecheck
npm run test:unit
npm run test:integration

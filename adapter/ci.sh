#!/usr/bin/env bash
# CI for the TypeScript adapter (called by .ci/run): clean install, build, typecheck against both
# Auth.js v5's and next-auth v4's Adapter types, unit tests (contract fixture replay), then the
# integration tests against the real release binary on SQLite, PostgreSQL and MySQL/MariaDB, and
# again on SQLite with session tokens hashed and OAuth tokens encrypted at rest.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
node --version

for var in TEST_POSTGRES_URL TEST_MYSQL_URL; do
  if [ "${CI:-}" = "true" ] && [ -z "${!var:-}" ]; then
    echo "CI=true but $var is not set" >&2
    exit 1
  fi
done
if [ -z "${AUTHBRIDGE_BIN:-}" ] && [ ! -x ../target/release/authbridge ]; then
  (cd .. && cargo build --release --locked)
fi

# Scratch databases an interrupted earlier run left behind.
../scripts/drop-leftover-databases.sh ab_adapter_

npm ci --no-audit --no-fund
npm run format:check
npm run build
npm run typecheck
npm run test:unit
npm run test:integration
# Once more with the options that keep secrets out of the database (docs/security.md): session
# tokens stored as their SHA-256, OAuth tokens encrypted. SQLite is enough here; the Rust tests run
# these options on every backend.
AUTHBRIDGE_SESSION_TOKEN_STORAGE=sha256 \
  AUTHBRIDGE_ENCRYPTION_KEYS="ci:$(node -e 'console.log(require("node:crypto").randomBytes(32).toString("base64"))')" \
  ADAPTER_BACKENDS=sqlite npm run test:integration

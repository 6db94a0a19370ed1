#!/usr/bin/env bash
# CI for the TypeScript adapter (called by .ci/run): clean install, build, typecheck against both
# Auth.js v5's and next-auth v4's Adapter types, unit tests (contract fixture replay), then the
# integration tests against the real release binary on SQLite, PostgreSQL and MySQL/MariaDB.
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
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  for db in $(psql "$TEST_POSTGRES_URL" -qtAc "SELECT datname FROM pg_database WHERE datname LIKE 'ab\_adapter\_%'"); do
    psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  done
fi

if [ -n "${TEST_MYSQL_URL:-}" ] && command -v mariadb >/dev/null; then
  my_db=$(node -e 'const u = new URL(process.argv[1]); console.log([u.hostname, u.port || 3306, decodeURIComponent(u.username || "root")].join(" "))' "$TEST_MYSQL_URL")
  read -r my_host my_port my_user <<<"$my_db"
  export MYSQL_PWD
  MYSQL_PWD=$(node -e 'console.log(decodeURIComponent(new URL(process.argv[1]).password))' "$TEST_MYSQL_URL")
  for db in $(mariadb -h "$my_host" -P "$my_port" -u "$my_user" -N -e "SHOW DATABASES LIKE 'ab\\_adapter\\_%'"); do
    mariadb -h "$my_host" -P "$my_port" -u "$my_user" -e "DROP DATABASE IF EXISTS \`$db\`"
  done
  unset MYSQL_PWD
fi

npm ci --no-audit --no-fund
npm run format:check
npm run build
npm run typecheck
npm run test:unit
npm run test:integration

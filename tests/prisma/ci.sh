#!/usr/bin/env bash
# Prisma co-tenancy, with real Prisma (run by .ci/run; also by hand from anywhere):
#   1. npm ci of the pinned Prisma 7 client set (.) and the Prisma 6.19 CLI (prisma6/);
#   2. the Rust tests that need the Prisma CLI: schema equivalence and "migrations are Prisma's SQL"
#      (AUTHBRIDGE_PRISMA_TESTS=required turns their skip into a failure);
#   3. the Node suite: Prisma Client 7 + @auth/prisma-adapter against the release binary, on
#      PostgreSQL, SQLite and MariaDB/MySQL (@prisma/adapter-mariadb).
# Needs TEST_POSTGRES_URL and TEST_MYSQL_URL (with CI=true a missing one fails), node >= 20, and a C++ toolchain
# (better-sqlite3 is compiled from source: no prebuilt binary can be downloaded).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

command -v node >/dev/null || { echo "node (>= 20) is required for the Prisma tests" >&2; exit 1; }
if ! command -v make >/dev/null || ! command -v g++ >/dev/null || ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq build-essential python3 >/dev/null
fi
# node-gyp needs the node headers; Debian's nodejs ships them under /usr.
if [ -z "${npm_config_nodedir:-}" ] && [ "$(npm config get nodedir 2>/dev/null)" = undefined ] \
   && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi

# Scratch databases left behind by an interrupted earlier run of the Node suite.
"$root/scripts/drop-leftover-databases.sh" ab_prisma_

echo "--- npm ci (Prisma Client 7 set, Prisma 6.19 CLI), side by side: each compiles its better-sqlite3"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) & client=$!
(cd "$here/prisma6" && npm ci --no-audit --no-fund --loglevel=error) & cli=$!
wait "$client"
wait "$cli"

echo "--- cargo test: schema equivalence with the Prisma CLI"
(cd "$root" && AUTHBRIDGE_PRISMA_TESTS=required cargo test --locked --test it catalog::)

echo "--- Node suite against the release binary"
(cd "$root" && cargo build --release --locked)
(cd "$here" && AUTHBRIDGE_BIN="${AUTHBRIDGE_BIN:-$root/target/release/authbridge}" npm test)

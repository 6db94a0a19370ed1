#!/usr/bin/env bash
# CI for the Next.js example (called by .ci/run): install the pinned packages, build the adapter it
# links to, `next build` once, then the browser test against the real release binary on SQLite and
# on PostgreSQL (TEST_POSTGRES_URL; required with CI=true). Screenshots: artifacts/<backend>/.
set -euo pipefail
cd "$(dirname "$0")"
export NEXT_TELEMETRY_DISABLED=1
started=$SECONDS
phase() { printf -- '--- %s (%ds so far)\n' "$1" "$((SECONDS - started))"; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
chromium_path="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium_path" ]; then
  echo "no Chromium at $chromium_path: apt-get install chromium (or set CHROMIUM_PATH)" >&2
  exit 1
fi
if [ "${CI:-}" = "true" ] && [ -z "${TEST_POSTGRES_URL:-}" ]; then
  echo "CI=true but TEST_POSTGRES_URL is not set" >&2
  exit 1
fi
if [ -z "${AUTHBRIDGE_BIN:-}" ] && [ ! -x ../../target/release/authbridge ]; then
  (cd ../.. && cargo build --release --locked)
fi
node --version
"$chromium_path" --version

# Scratch databases an interrupted earlier run left behind.
../../scripts/drop-leftover-databases.sh ab_next_

# npm links `file:../../adapter` as a symlink and builds nothing in it: the example imports its
# dist/, so build it here unless it is already up to date (adapter/ci.sh builds it earlier in CI).
if [ ! -f ../../adapter/dist/index.js ] || [ ../../adapter/src/index.ts -nt ../../adapter/dist/index.js ]; then
  phase "build the adapter"
  (cd ../../adapter && { [ -d node_modules ] || nice -n 5 npm ci --no-audit --no-fund; } && npm run build)
fi

phase "npm ci"
nice -n 5 npm ci --no-audit --no-fund
phase "next build"
nice -n 5 npm run build
phase "browser test"
npm run test:browser
phase "done"

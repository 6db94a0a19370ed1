#!/usr/bin/env bash
# Runs the README's curl walk-through, exactly as written, and checks what it prints.
#   scripts/walkthrough.sh
#       against a freshly started release binary on 127.0.0.1:7777 in an empty directory (so it
#       also proves the embedded SQLite default is created).
#   WALKTHROUGH_API_KEY=... scripts/walkthrough.sh --against HOST:PORT
#       against a server already running there (deploy/container-test.sh): the block's
#       localhost:7777 becomes HOST:PORT and every curl sends the key, if one is set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
against=
if [ "${1:-}" = --against ]; then
  against=${2:?usage: walkthrough.sh [--against HOST:PORT]}
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
awk '/<!-- walkthrough/{found=1; next} found && /^```bash/{inside=1; next} inside && /^```/{exit} inside{print}' \
  "$root/README.md" > "$work/walkthrough.sh"
[ -s "$work/walkthrough.sh" ] || { echo "no walk-through block found in README.md" >&2; exit 1; }

if [ -n "$against" ]; then
  grep -q 'localhost:7777' "$work/walkthrough.sh" || { echo "the walk-through no longer says localhost:7777" >&2; exit 1; }
  sed -i "s/localhost:7777/$against/g" "$work/walkthrough.sh"
  # The key stays in the environment, out of the script file and out of every command line.
  if [ -n "${WALKTHROUGH_API_KEY:-}" ]; then
    export WALKTHROUGH_API_KEY
    sed -i '1i curl() { command curl -H "Authorization: Bearer $WALKTHROUGH_API_KEY" "$@"; }' "$work/walkthrough.sh"
  fi
else
  bin="$root/target/release/authbridge"
  [ -x "$bin" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }
  cd "$work"
  "$bin" > "$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs localhost:7777/healthz >/dev/null 2>&1 && break; sleep 0.1; done
  [ -f "$work/authbridge.db" ] || { echo "the default SQLite file was not created"; cat "$work/server.log"; exit 1; }
fi

out=$(bash -euo pipefail "$work/walkthrough.sh")
echo "$out"
grep -q '"email": "ada@example.com"' <<<"$out" || { echo "walk-through: getSessionAndUser did not return the user"; exit 1; }
[ "$(tail -n 2 <<<"$out")" = $'null\nnull' ] || { echo "walk-through: expected the last two commands to print null"; exit 1; }
if [ -n "$pid" ]; then
  kill -TERM "$pid"
  status=0; wait "$pid" || status=$?
  pid=
  [ "$status" = 0 ] || { echo "the server exited with $status on SIGTERM"; cat "$work/server.log"; exit 1; }
  echo "walk-through passed; server shut down cleanly on SIGTERM"
else
  echo "walk-through passed against $against"
fi

#!/usr/bin/env bash
# Runs the README's curl walk-through, exactly as written, against a freshly started release
# binary in an empty directory (so it also proves the embedded SQLite default is created).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/authbridge"
[ -x "$bin" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
awk '/<!-- walkthrough/{found=1; next} found && /^```bash/{inside=1; next} inside && /^```/{exit} inside{print}' \
  "$root/README.md" > "$work/walkthrough.sh"
[ -s "$work/walkthrough.sh" ] || { echo "no walk-through block found in README.md" >&2; exit 1; }

cd "$work"
"$bin" > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs localhost:7777/healthz >/dev/null 2>&1 && break; sleep 0.1; done
[ -f "$work/authbridge.db" ] || { echo "the default SQLite file was not created"; cat "$work/server.log"; exit 1; }

out=$(bash -euo pipefail "$work/walkthrough.sh")
echo "$out"
grep -q '"email": "ada@example.com"' <<<"$out" || { echo "walk-through: getSessionAndUser did not return the user"; exit 1; }
[ "$(tail -n 2 <<<"$out")" = $'null\nnull' ] || { echo "walk-through: expected the last two commands to print null"; exit 1; }
kill -TERM "$pid"; wait "$pid" && echo "walk-through passed; server shut down cleanly on SIGTERM"

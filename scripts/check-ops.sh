#!/usr/bin/env bash
# Operations check against the release binary: validates the served /openapi.json with
# openapi-spec-validator (PyPI, pinned, in a throw-away venv), then sends a small load and shows
# that /metrics reports live request and pool figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/authbridge"
[ -x "$bin" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }
VALIDATOR_VERSION=0.7.2
KEY="ops-check-$RANDOM$RANDOM"

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

venv="$root/target/ops-venv"
"$root/scripts/pinned-venv.sh" "$venv" openapi-spec-validator "$VALIDATOR_VERSION"

cd "$work"
# Port 0: the kernel picks a free port, and the log line says which.
AUTHBRIDGE_API_KEYS="$KEY" "$bin" serve --bind 127.0.0.1:0 --log-format json --pool-size 4 > "$work/server.log" 2>&1 &
pid=$!
base=
for _ in $(seq 1 100); do
  base=$(jq -r 'select(.message == "authbridge listening") | "http://" + .address' "$work/server.log" 2>/dev/null || true)
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }
auth=(-H "Authorization: Bearer $KEY")

[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/openapi.json")" = 401 ] || { echo "/openapi.json must need the key"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")" = 401 ] || { echo "/metrics must need the key"; exit 1; }

curl -fsS "${auth[@]}" "$base/openapi.json" > "$work/openapi.json"
"$venv/bin/openapi-spec-validator" --schema 3.1 "$work/openapi.json"
echo "openapi.json: $(jq '[.paths[] | keys[]] | length' "$work/openapi.json") operations on $(jq '.paths | length' "$work/openapi.json") paths, OpenAPI $(jq -r .openapi "$work/openapi.json")"

# A small load: 20 sign-ins' worth of adapter calls, 4 at a time.
load() {
  local i=$1 user token
  user=$(curl -fsS "${auth[@]}" -H 'content-type: application/json' "$base/v1/adapter/createUser" \
    -d "{\"user\":{\"email\":\"load-$i@example.com\"}}" | jq -r .id)
  token=$(curl -fsS "${auth[@]}" -H 'content-type: application/json' "$base/v1/adapter/createSession" \
    -d "{\"session\":{\"userId\":\"$user\",\"expires\":\"2099-01-01T00:00:00Z\"}}" | jq -r .sessionToken)
  for _ in 1 2 3 4 5; do
    curl -fsS "${auth[@]}" -H 'content-type: application/json' "$base/v1/adapter/getSessionAndUser" \
      -d "{\"sessionToken\":\"$token\"}" > /dev/null
  done
  curl -fsS "${auth[@]}" -H 'content-type: application/json' "$base/v1/adapter/deleteSession" \
    -d "{\"sessionToken\":\"$token\"}" > /dev/null
}
export -f load
export base KEY
for i in $(seq 1 20); do echo "$i"; done | xargs -P 4 -I{} bash -c 'auth=(-H "Authorization: Bearer $KEY"); load {}'
curl -s "${auth[@]}" "$base/v1/nowhere" > /dev/null

curl -fsS "${auth[@]}" "$base/metrics" > "$work/metrics.txt"
echo "--- /metrics after the load (excerpt)"
grep -E '^authbridge_(http_requests_total|db_pool_|purged_rows_total|build_info)' "$work/metrics.txt"
value() { awk -v s="$1" '$1 == s { print $2 }' "$work/metrics.txt"; }
lookups=$(value 'authbridge_http_requests_total{method="POST",route="/v1/adapter/getSessionAndUser",status_class="2xx",key="unnamed"}')
[ "${lookups:-0}" = 100 ] || { echo "expected 100 getSessionAndUser requests, /metrics says ${lookups:-none}"; exit 1; }
[ "$(value authbridge_db_pool_max_connections)" = 4 ] || { echo "pool size missing from /metrics"; exit 1; }
open=$(value authbridge_db_pool_connections)
[ "${open:-0}" -ge 1 ] || { echo "no open connection reported after the load"; exit 1; }
grep -q 'authbridge_http_request_duration_seconds_bucket{method="POST",route="/v1/adapter/getSessionAndUser",le="+Inf"} 100' \
  "$work/metrics.txt" || { echo "latency histogram missing"; exit 1; }
grep -q 'route="unmatched"' "$work/metrics.txt" || { echo "unmatched paths must share one label"; exit 1; }
if grep -q 'example.com\|nowhere' "$work/metrics.txt" "$work/server.log"; then
  echo "an email or a raw path reached /metrics or the log"; exit 1
fi
if grep -q "$KEY" "$work/server.log"; then echo "the API key reached the log"; exit 1; fi
requests=$(jq -c 'select(.target == "authbridge::request")' "$work/server.log" | wc -l)
echo "log: $requests JSON request lines"
[ "$requests" -ge 145 ] || { echo "expected one JSON log line per request"; exit 1; }
kill -TERM "$pid"; wait "$pid"; pid=
echo "ops check passed"

#!/usr/bin/env bash
# Instructions per getSessionAndUser, counted by callgrind: a figure that does not move with the
# machine's load, unlike CPU time on a shared box (bench/TUNING.md, "Profile pass").
#
#   bench/callgrind.sh [OUT_DIR]
#
# Seeds a scratch PostgreSQL database (1,000 users, 10,000 fresh sessions, as `run.sh --smoke`),
# starts the release binary under `valgrind --tool=callgrind` (cache off, the default pool), runs a
# checked warm-up with wrk, zeroes the counters, loads it with wrk (random valid tokens, 32
# connections, keep-alive) for BENCH_SECONDS, dumps the counters and divides the instructions
# (every thread of authbridge, user space only: the kernel's share is not counted) by the
# getSessionAndUser answers the server's own counter saw in that window. Prints one line
# `CALLGRIND_JSON {...}` and leaves callgrind.out.* in OUT_DIR (default: a new /tmp directory) for
# `callgrind_annotate --inclusive=yes`.
#
# Knobs: AUTHBRIDGE_BIN (default: target/release/authbridge, built when missing), BENCH_SECONDS
# (20), BENCH_WARMUP (5), BENCH_CONNS (32), BENCH_PORT (7899), BENCH_PG, BENCH_KEEP=1. authbridge's
# own variables (RUST_LOG, AUTHBRIDGE_*) reach the server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
bench_ensure_tools
out=${1:-$(mktemp -d /tmp/ab_callgrind.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
seconds=${BENCH_SECONDS:-20} warmup=${BENCH_WARMUP:-5} conns=${BENCH_CONNS:-32} port=${BENCH_PORT:-7899}
base=http://127.0.0.1:$port

if [ -z "${AUTHBRIDGE_BIN:-}" ]; then
  AUTHBRIDGE_BIN="$BENCH_ROOT/target/release/authbridge"
  [ -x "$AUTHBRIDGE_BIN" ] || bench_build
fi

work=$(mktemp -d /tmp/ab_callgrind_work.XXXXXX)
db=ab_callgrind_$$
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || bench_stop "$server_pid"
  bench_discard "$work" "$db"
}
trap cleanup EXIT

url=$(bench_pg_create "$db")
bench_migrate "$url"
bench_seed_pg "$url" 1000 10000 0 >/dev/null
bench_tokens "$url" "$work/tokens.txt"

if curl -s -o /dev/null --max-time 1 "$base/"; then
  bench_log "port $port already answers (another benchmark?): set BENCH_PORT"
  exit 1
fi
DATABASE_URL="$url" AUTHBRIDGE_BIND="127.0.0.1:$port" valgrind --tool=callgrind --vgdb=yes \
  --callgrind-out-file="$out/callgrind.out" "$AUTHBRIDGE_BIN" >"$out/server.log" 2>&1 &
server_pid=$!
bench_wait_http "$base/healthz" || { cat "$out/server.log"; exit 1; }
# Valgrind is slow to start; give the health check longer than bench_wait_http does.
for _ in $(seq 1 300); do curl -fs -o /dev/null "$base/healthz" && break; sleep 0.2; done

# The number of getSessionAndUser answers (2xx) the server has counted.
answered() {
  curl -fs "$base/metrics" |
    awk '/^authbridge_http_requests_total\{/ && /route="\/v1\/adapter\/getSessionAndUser"/ && /status_class="2xx"/ { n += $NF } END { print n + 0 }'
}

check=$(BENCH_CHECK=1 bench_wrk "$base" "$conns" "$warmup" "$work/tokens.txt")
jq -e '.non200 == 0 and .nulls == 0 and .requests > 0' <<<"$check" >/dev/null ||
  { bench_log "the warm-up got wrong answers: $check"; exit 1; }

before=$(answered)
callgrind_control -z "$server_pid" >/dev/null 2>&1
wrk_json=$(bench_wrk "$base" "$conns" "$seconds" "$work/tokens.txt")
callgrind_control -d "$server_pid" >/dev/null 2>&1
after=$(answered)
# The scrape that read `before` is in the window too; one scrape among thousands of reads.
requests=$((after - before))
dump=$(ls -t "$out"/callgrind.out.* | head -n 1)
instructions=$(sed -n 's/^summary: *//p' "$dump" | head -n 1)
[ -n "$instructions" ] || instructions=$(sed -n 's/^totals: *//p' "$dump" | head -n 1)
jq -nc --argjson requests "$requests" --argjson instructions "$instructions" --arg dump "$dump" \
  --argjson wrk "$wrk_json" \
  '{requests: $requests, instructions: $instructions, instructions_per_request: ($instructions / $requests | floor),
    dump: $dump, wrk_requests: $wrk.requests}' | sed 's/^/CALLGRIND_JSON /'

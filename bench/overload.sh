#!/usr/bin/env bash
# Overload rows (issue 22): getSessionAndUser with random valid tokens (wrk, bench/session-read.lua)
# against the release binary on PostgreSQL with default settings, at 32 connections (capacity) and
# 800 (overload), in the same run; then the cost of the request log line (CPU µs per request with
# and without it, interleaved). Prints two markdown tables on stdout; progress goes to stderr.
#
#   bench/overload.sh [--smoke]
#
# AUTHBRIDGE_BIN (default: cargo build --release), BENCH_SECONDS (default 10, smoke 2), BENCH_WARMUP (5, smoke 1), BENCH_OVERLOAD_CONNS (800),
# BENCH_PORT (7851), BENCH_KEEP=1 keeps the work directory and the database; BENCH_PG as lib.sh.
#
# Successful reads' latency is the server's view: the request log's latency_us of the 200 answers
# (it includes the wait for admission; wrk's own percentiles mix the 503s in). Log bytes: what the
# server wrote to stderr during the phase, at the default RUST_LOG (info).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
if [ "$smoke" = 1 ]; then
  users=1000 sessions=10000 seconds=${BENCH_SECONDS:-2} warmup=${BENCH_WARMUP:-1} cost_rounds=1
else
  users=10000 sessions=100000 seconds=${BENCH_SECONDS:-10} warmup=${BENCH_WARMUP:-5} cost_rounds=3
fi
overload=${BENCH_OVERLOAD_CONNS:-800}
port=${BENCH_PORT:-7851}
work=$(mktemp -d /tmp/ab_overload.XXXXXX)
db=ab_overload_$$
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || bench_stop "$server_pid"
  bench_discard "$work" "$db"
}
trap cleanup EXIT
# 800 client sockets and as many server ones in one shell's children.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

bench_ensure_tools
# AUTHBRIDGE_BIN set: that binary, no build (e.g. run.sh's, already built).
[ -n "${AUTHBRIDGE_BIN:-}" ] || bench_build
bench_log "seeding $users users and $sessions sessions into $db"
url=$(bench_pg_create "$db")
bench_migrate "$url"
bench_seed_pg "$url" "$users" "$sessions" 0
bench_tokens "$url" "$work/tokens.txt"

start() {
  local log=$1
  shift
  RUST_LOG=${RUST_LOG_OVERRIDE:-info} bench_start_authbridge "$url" "$port" "$log" "$@"
  server_pid=$BENCH_PID
  bench_wait_http "http://127.0.0.1:$port/readyz"
}
stop() {
  bench_stop "$server_pid"
  server_pid=""
}

# phase NAME CONNS LOG: one wrk run; prints a JSON object with wrk's totals, the 200s' p99 from the
# log lines written during the run, and the bytes and lines the log grew by.
phase() {
  local name=$1 conns=$2 log=$3 before after json
  before=$(stat -c %s "$log")
  json=$(bench_wrk "http://127.0.0.1:$port" "$conns" "$seconds" "$work/tokens.txt")
  sleep 1.2 # the once-a-second summary line of the refusals in the last second
  after=$(stat -c %s "$log")
  tail -c +"$((before + 1))" "$log" | head -c "$((after - before))" >"$work/$name.log"
  local p99 request_lines summary_lines
  p99=$(grep -o 'status=200 latency_us=[0-9]*' "$work/$name.log" | sed 's/.*=//' | sort -n |
    awk '{v[NR]=$1} END {if (NR == 0) print "null"; else print v[int((NR - 1) * 0.99) + 1]}')
  request_lines=$(grep -c 'authbridge::request' "$work/$name.log" || true)
  summary_lines=$(grep -c 'requests in the last second' "$work/$name.log" || true)
  jq -c --argjson p99 "$p99" --argjson bytes "$((after - before))" --argjson lines "$request_lines" \
    --argjson summaries "$summary_lines" --arg name "$name" --argjson conns "$conns" \
    '. + {name: $name, conns: $conns, ok_p99_us: $p99, log_bytes: $bytes, request_lines: $lines, summary_lines: $summaries}' <<<"$json"
}

row() {
  jq -r '(.duration_us / 1e6) as $s | (.requests - .status_errors) as $ok |
    "| \(.name) | \(.conns) | \(.requests / $s | floor) | \($ok / $s | floor) | \(.status_errors / $s | floor) | \(.read_errors + .write_errors + .connect_errors + .timeouts) | \(if .ok_p99_us == null then "–" else (.ok_p99_us / 1000 * 10 | round / 10 | tostring) end) | \(.p99_us / 1000 * 10 | round / 10) | \(.log_bytes) (\(.request_lines) request lines, \(.summary_lines) summaries) |"' <<<"$1"
}

results=()
bench_log "defaults: warm-up, then $seconds s at 32 and at $overload connections"
start "$work/server.log"
bench_wrk "http://127.0.0.1:$port" 32 "$warmup" "$work/tokens.txt" >/dev/null
results+=("$(phase capacity 32 "$work/server.log")")
bench_log "$(row "${results[-1]}")"
results+=("$(phase overload "$overload" "$work/server.log")")
bench_log "$(row "${results[-1]}")"
stop
# For comparison, the behaviour before the queue: a request beyond the limit refused at once.
bench_log "no queue (--max-queued-requests 0): $seconds s at $overload connections"
start "$work/server-noqueue.log" --max-queued-requests 0
bench_wrk "http://127.0.0.1:$port" 32 "$warmup" "$work/tokens.txt" >/dev/null
results+=("$(phase no-queue "$overload" "$work/server-noqueue.log")")
bench_log "$(row "${results[-1]}")"
stop

echo "| phase | connections | answers/s | successful reads/s | 503/s | socket errors | p99 successful (ms, server) | p99 all answers (ms, wrk) | log bytes written |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in "${results[@]}"; do row "$r"; done
capacity_ok=$(jq -s '(.[0].requests - .[0].status_errors) / .[0].duration_us' <<<"${results[0]}")
overload_ok=$(jq -s '(.[0].requests - .[0].status_errors) / .[0].duration_us' <<<"${results[1]}")
echo
echo "Goodput at $overload connections: $(jq -n "$overload_ok / $capacity_ok * 100 | floor")% of goodput at 32."
echo

# The request log line's cost: 32 connections, the log at info (one line per request) and with the
# request target off, alternated so that drift in the machine's load hits both alike.
bench_log "request log cost: $cost_rounds x (with, without) at 32 connections"
cost() {
  local mode=$1 t0 t1 json
  if [ "$mode" = with ]; then
    RUST_LOG_OVERRIDE=info start "$work/cost.log"
  else
    RUST_LOG_OVERRIDE=info,authbridge::request=off start "$work/cost.log"
  fi
  bench_wrk "http://127.0.0.1:$port" 32 "$warmup" "$work/tokens.txt" >/dev/null
  t0=$(bench_cpu_ticks "$server_pid")
  json=$(bench_wrk "http://127.0.0.1:$port" 32 "$seconds" "$work/tokens.txt")
  t1=$(bench_cpu_ticks "$server_pid")
  stop
  jq -c --arg mode "$mode" --argjson ticks "$((t1 - t0))" --argjson hz "$BENCH_CLK_TCK" \
    '{mode: $mode, rps: (.requests / .duration_us * 1e6), cpu_us_per_req: ($ticks / $hz * 1e6 / .requests)}' <<<"$json"
}
costs=()
for _ in $(seq "$cost_rounds"); do
  costs+=("$(cost with)" "$(cost without)")
done
echo "| request log line | reads/s (32 connections) | authbridge CPU µs per request |"
echo "|---|---|---|"
for mode in with without; do
  printf '%s\n' "${costs[@]}" | jq -rs --arg mode "$mode" \
    'map(select(.mode == $mode)) | "| \($mode) | \(map(.rps) | add / length | floor) | \(map(.cpu_us_per_req) | add / length * 10 | round / 10) |"'
done

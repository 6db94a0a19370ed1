#!/usr/bin/env bash
# bench/purge.sh: purge 1,000,000 expired sessions on PostgreSQL while getSessionAndUser is under
# load, and print how long the purge took and the read latency before and during it.
#
#   bench/purge.sh                       the full run (about 3 minutes on 2 cores)
#   PURGE_EXPIRED=20000 bench/purge.sh   a smaller backlog
#
# Environment: PURGE_EXPIRED (1000000) expired sessions, PURGE_LIVE (10000) live sessions read by
# the load, PURGE_CONNS (8) wrk connections, PURGE_BATCH (1000) --purge-batch-size,
# AUTHBRIDGE_BIN (default: build target/release/authbridge), BENCH_PG (see lib.sh).
#
# The purge runs inside the serving process, through POST /v1/maintenance/purge-expired, so the
# reads compete with it for the pool, the CPU and the table, as with the background task.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

EXPIRED=${PURGE_EXPIRED:-1000000}
LIVE=${PURGE_LIVE:-10000}
USERS=${PURGE_USERS:-10000}
CONNS=${PURGE_CONNS:-8}
BATCH=${PURGE_BATCH:-1000}
PORT=${PURGE_PORT:-7811}
DB=ab_bench_purge
WORK=$(mktemp -d)
SERVER_PID=
WRK_PID=

cleanup() {
  [ -z "$WRK_PID" ] || kill "$WRK_PID" 2>/dev/null || true
  [ -z "$SERVER_PID" ] || bench_stop "$SERVER_PID"
  bench_pg_drop "$DB" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bench_ensure_tools
[ -n "${AUTHBRIDGE_BIN:-}" ] || bench_build
URL=$(bench_pg_create "$DB")
bench_migrate "$URL"

started=$(date +%s.%N)
bench_seed_pg "$URL" "$USERS" "$LIVE"
bench_tokens "$URL" "$WORK/tokens.txt"
# Expired sessions spread over the last 30 days, as an app that never purged would have them.
bench_psql "$URL" <<SQL
INSERT INTO sessions (id, "sessionToken", "userId", expires)
SELECT 'x' || substr(md5('expired-' || i), 1, 24), encode(sha256(('expired-' || i)::bytea), 'hex'),
       'c' || substr(md5('user-' || (1 + i % $USERS)), 1, 24),
       date_trunc('milliseconds', now() AT TIME ZONE 'UTC') - (1 + i % 2592000) * interval '1 second'
FROM generate_series(1, $EXPIRED) AS i;
INSERT INTO verification_tokens (identifier, token, expires)
SELECT 'user' || i || '@bench.example', encode(sha256(('link-' || i)::bytea), 'hex'),
       date_trunc('milliseconds', now() AT TIME ZONE 'UTC') - interval '1 hour'
FROM generate_series(1, $EXPIRED / 100) AS i;
VACUUM ANALYZE sessions;
VACUUM ANALYZE verification_tokens;
SQL
seeded=$(date +%s.%N)
bench_log "seeded $USERS users, $LIVE live and $EXPIRED expired sessions in $(awk -v a="$started" -v b="$seeded" 'BEGIN { printf "%.1f", b - a }') s"

# The background task is off, so that only the measured purge deletes; the request may take long.
bench_start_authbridge "$URL" "$PORT" "$WORK/server.log" --purge-interval 0 --purge-batch-size "$BATCH" \
  --request-timeout-ms 3600000
SERVER_PID=$BENCH_PID
bench_wait_http "http://127.0.0.1:$PORT/readyz"
BASE="http://127.0.0.1:$PORT"

BENCH_CHECK=1 bench_wrk "$BASE" "$CONNS" 3 "$WORK/tokens.txt" >/dev/null   # warm-up
baseline=$(bench_wrk "$BASE" "$CONNS" 10 "$WORK/tokens.txt")

# wrk prints its summary when interrupted, so it measures exactly the purge's duration.
BENCH_TOKENS="$WORK/tokens.txt" wrk -t1 -c"$CONNS" -d3600s --timeout 10s -s "$BENCH_DIR/session-read.lua" "$BASE" \
  >"$WORK/during.txt" 2>&1 &
WRK_PID=$!
sleep 1
purge_started=$(date +%s.%N)
purged=$(curl -fsS -X POST "$BASE/v1/maintenance/purge-expired" -H 'content-type: application/json' -d '{}')
purge_finished=$(date +%s.%N)
kill -INT "$WRK_PID"
wait "$WRK_PID" || true
WRK_PID=
during=$(sed -n 's/^BENCH_JSON //p' "$WORK/during.txt")

left=$(bench_psql "$URL" -c "SELECT count(*) FROM sessions WHERE expires <= now() AT TIME ZONE 'UTC'")
live=$(bench_psql "$URL" -c "SELECT count(*) FROM sessions")
python3 - "$baseline" "$during" "$purged" "$purge_started" "$purge_finished" "$left" "$live" "$EXPIRED" "$CONNS" "$BATCH" <<'PY'
import json, sys
baseline, during, purged = (json.loads(a) for a in sys.argv[1:4])
seconds = float(sys.argv[5]) - float(sys.argv[4])
left, live, expired, conns, batch = (int(a) for a in sys.argv[6:11])
rows = purged["sessionsDeleted"] + purged["verificationTokensDeleted"]
ms = lambda us: f"{us / 1000:.2f} ms"
rps = lambda r: r["requests"] / (r["duration_us"] / 1e6)
print(f"purge: {purged['sessionsDeleted']:,} sessions + {purged['verificationTokensDeleted']:,} verification tokens "
      f"in {seconds:.1f} s ({rows / seconds:,.0f} rows/s, batches of {batch}); expired rows left: {left}, rows kept: {live:,}")
print(f"getSessionAndUser, {conns} connections   requests/s      p50        p99        max   errors")
for name, r in (("before the purge", baseline), ("during the purge", during)):
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
    print(f"  {name:<31}{rps(r):>10,.0f} {ms(r['p50_us']):>10} {ms(r['p99_us']):>10} {ms(r['max_us']):>10} {errors:>8}")
verdict = "holds" if during["p99_us"] < 50_000 else "MISSED"
print(f"target p99 < 50 ms during the purge: {verdict}")
if left != 0 or purged["sessionsDeleted"] != expired:
    sys.exit(f"the purge left {left} expired sessions (deleted {purged['sessionsDeleted']} of {expired})")
PY

#!/usr/bin/env bash
# The session-read benchmark: authbridge (PostgreSQL directly, with the session cache on (TTL 1 s),
# PostgreSQL through PgBouncer in transaction mode with pgbouncer=true, and SQLite) against pgbench
# running the same statement and the plain read, and against the Node peers (@auth/pg-adapter,
# @auth/prisma-adapter behind node:http), all on this machine in this run; then the revocation
# delay across two instances with the cache on; then bench/overload.sh (goodput at 32 and 800
# connections, log bytes under overload). Prints the tables; a full run also writes bench/RESULTS.md.
#
#   bench/run.sh            full run (about 10 minutes)
#   bench/run.sh --smoke    a few seconds per phase and fewer rows (CI); never writes RESULTS.md
#
# Knobs (environment): BENCH_SECONDS, BENCH_WARMUP, BENCH_CONNS ("1 8 32"), BENCH_USERS,
# BENCH_SESSIONS, BENCH_POOL_SIZE (default: authbridge's --pool-size default, for every server),
# BENCH_WRK_THREADS (default 1 for one connection, else 2), BENCH_PORT_BASE (7801),
# BENCH_PGBOUNCER_PORT (6449; PgBouncer gets the same pool size as authbridge),
# BENCH_PG (postgresql://postgres@127.0.0.1:5432), BENCH_HOT (1000: the active sessions the cached
# server is loaded with), BENCH_SIGNOUTS (1000; smoke 50: the revocation test), BENCH_KEEP=1 keeps the scratch data and logs,
# BENCH_NICE=1 runs the servers, load generators and the benchmark's PostgreSQL backends at nice -20
# (for a machine that other work shares; RESULTS.md says which).
#
# authbridge's own variables reach every authbridge this starts. With
# AUTHBRIDGE_SESSION_TOKEN_STORAGE=sha256 the sessions are seeded as their SHA-256 (what authbridge
# then stores), pgbench hashes its token the same way, and the Node peers, which look tokens up as
# stored, are skipped. AUTHBRIDGE_ENCRYPTION_KEYS is passed on as well (a session read touches no
# account, so it should cost nothing there). A full run with either set prints its table but leaves
# RESULTS.md, which holds the default configuration's figures.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

smoke=${BENCH_SMOKE:-0}
[ "${1:-}" = "--smoke" ] && smoke=1
if [ "$smoke" = 1 ]; then
  users=${BENCH_USERS:-1000} sessions=${BENCH_SESSIONS:-10000} due=100
  seconds=${BENCH_SECONDS:-2} warmup=${BENCH_WARMUP:-1} signouts=${BENCH_SIGNOUTS:-50}
else
  users=${BENCH_USERS:-10000} sessions=${BENCH_SESSIONS:-100000} due=1000
  seconds=${BENCH_SECONDS:-15} warmup=${BENCH_WARMUP:-5} signouts=${BENCH_SIGNOUTS:-1000}
fi
hot=${BENCH_HOT:-1000}
conns_list=${BENCH_CONNS:-1 8 32}
hashed=0
case ${AUTHBRIDGE_SESSION_TOKEN_STORAGE:-plain} in
  plain) ;;
  sha256 | sha256-migrating) hashed=1 ;;
  *) echo "AUTHBRIDGE_SESSION_TOKEN_STORAGE: plain, sha256 or sha256-migrating" >&2; exit 2 ;;
esac
default_config=1
if [ "$hashed" = 1 ] || [ -n "${AUTHBRIDGE_ENCRYPTION_KEYS:-}" ]; then default_config=0; fi
port=${BENCH_PORT_BASE:-7801}
writes_repeat=10

work=$(mktemp -d /tmp/ab_bench.XXXXXX)
db=ab_bench_$$
results=$work/results.jsonl
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do bench_stop "$pid"; done
  bench_discard "$work" "$db"
}
trap cleanup EXIT

# Scratch databases of earlier runs that were killed before their clean-up.
for stale in $(bench_psql "$BENCH_PG/postgres" -c "SELECT datname FROM pg_database WHERE datname ~ '^ab_bench_[0-9]+$'"); do
  kill -0 "${stale#ab_bench_}" 2>/dev/null || bench_pg_drop "$stale"
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%s)

bench_log "tools, release build, Node peers"
bench_ensure_tools
bench_build
if [ ! -d "$BENCH_DIR/node_modules" ] || [ "$BENCH_DIR/package-lock.json" -nt "$BENCH_DIR/node_modules/.package-lock.json" ]; then
  (cd "$BENCH_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
# Prisma 7 generates its client from the repository's schema; `prisma generate` needs no engine.
sed -e '/url *= env("DATABASE_URL")/d' -e 's|"prisma-client-js"|"prisma-client"\n  output   = "./generated/prisma"|' \
  "$BENCH_ROOT/prisma/schema.prisma" >"$BENCH_DIR/peers/schema.prisma"
(cd "$BENCH_DIR" && npm run -s generate && npm run -s build) >"$work/peers-build.log" 2>&1 || { cat "$work/peers-build.log"; exit 1; }

# The last number of the default's text: "[default: 16]" or "[default: ..., else 16]", which
# clap may wrap over several lines.
pool_size=${BENCH_POOL_SIZE:-$("$AUTHBRIDGE_BIN" --help | tr -s '\n ' ' ' |
  sed -n 's/.*--pool-size <POOL_SIZE> [^[]*\[default:\([^]]*\)\].*/\1/p' | grep -o '[0-9][0-9]*' | tail -n 1)}
[ -n "$pool_size" ] || { bench_log "cannot read the --pool-size default"; exit 1; }

bench_log "seeding $users users and $sessions sessions ($due due for a slide) into $db"
# No TLS to the local database for any client: node-postgres (both Node peers) connects without it
# by default, libpq (pgbench) and authbridge would negotiate it (`prefer`; Debian's PostgreSQL has
# ssl = on). Measured in bench/TUNING.md: TLS costs PostgreSQL 10-25 us per read.
url="$(bench_pg_create "$db")?sslmode=disable"
bench_migrate "$url"
bench_seed_pg "$url" "$users" "$sessions" "$due"
bench_psql "$url" -c "CREATE TABLE bench_due AS SELECT id FROM sessions WHERE expires <= (now() AT TIME ZONE 'UTC') + interval '29 days'"
bench_tokens "$url" "$work/tokens.txt" "id NOT IN (SELECT id FROM bench_due)"
bench_tokens "$url" "$work/due-tokens.txt" "id IN (SELECT id FROM bench_due)"
fresh=$(wc -l <"$work/tokens.txt")
# The cached server's load: the sessions of the users active right now, each read many times a
# second (a cache serves repeated reads; over 100,000 random tokens and a 1 s TTL it would hit
# rarely). The revocation test signs out other sessions, from the end of the file.
head -n "$hot" "$work/tokens.txt" >"$work/hot-tokens.txt"
tail -n "$signouts" "$work/tokens.txt" >"$work/signout-tokens.txt"
bench_psql "$url" -c "CREATE TABLE bench_signouts (token text)" \
  -c "\\copy bench_signouts FROM '$work/signout-tokens.txt'"
bench_tokens "$url" "$work/tokens.txt" "id NOT IN (SELECT id FROM bench_due) AND \"sessionToken\" NOT IN (SELECT token FROM bench_signouts)"
fresh=$(wc -l <"$work/tokens.txt")
# The token files keep the raw tokens the clients send; the rows get what authbridge stores.
hash_sql() { echo "encode(sha256(convert_to($1, 'UTF8')), 'hex')"; }
if [ "$hashed" = 1 ]; then
  bench_log "sessionToken holds the SHA-256 of each token (AUTHBRIDGE_SESSION_TOKEN_STORAGE=$AUTHBRIDGE_SESSION_TOKEN_STORAGE)"
  bench_psql "$url" -c "UPDATE sessions SET \"sessionToken\" = $(hash_sql '"sessionToken"')" -c "VACUUM ANALYZE sessions"
fi
bouncer_port=${BENCH_PGBOUNCER_PORT:-6449}
bench_start_pgbouncer "$bouncer_port" "$pool_size" "$work"
pids+=("$BENCH_PID")
bouncer_url="postgresql://${BENCH_PG#*://}"
bouncer_url="${bouncer_url%@*}@127.0.0.1:$bouncer_port/$db?pgbouncer=true"
bench_sqlite_from_pg "$url" "$work/authbridge.db"
sqlite3 "$work/authbridge.db" \
  "CREATE TABLE bench_due AS SELECT id FROM sessions WHERE expires <= strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+29 days');"

record() { echo "$1" >>"$results"; }

# PostgreSQL CPU ticks between two snapshots of the same backends; null without backends (SQLite)
# or when one went away in between (its time would be lost: no number is better than a low one).
db_ticks() {
  if [ -n "$1" ] && [ "$(wc -l <<<"$1")" = "$(wc -l <<<"$2")" ]; then bench_cpu_delta "$1" "$2"; else echo null; fi
}

# measure_http SYSTEM PID URL [TOKENS]: warm-up (answers checked) then one timed wrk run per
# connection count.
measure_http() {
  local system=$1 pid=$2 base=$3 tokens=${4:-$work/tokens.txt} conns check wrk_json cpu0 db0 cpu1 db1 t0 t1
  for conns in $conns_list; do
    check=$(BENCH_CHECK=1 bench_wrk "$base" "$conns" "$warmup" "$tokens" "${BENCH_WRK_THREADS:-}")
    if ! jq -e '.non200 == 0 and .nulls == 0 and .requests > 0' <<<"$check" >/dev/null; then
      bench_log "$system: the warm-up got wrong answers: $check"
      exit 1
    fi
    bench_renice_db "$db"
    backends=$(bench_pg_backends "$db")
    cpu0=$(bench_cpu_ticks "$pid") db0=$(bench_cpu_snapshot $backends) t0=$(date +%s%N)
    wrk_json=$(bench_wrk "$base" "$conns" "$seconds" "$tokens" "${BENCH_WRK_THREADS:-}")
    cpu1=$(bench_cpu_ticks "$pid") db1=$(bench_cpu_snapshot $backends) t1=$(date +%s%N)
    record "$(jq -c --arg system "$system" --argjson conns "$conns" --argjson clk "$BENCH_CLK_TCK" \
      --argjson cpu $((cpu1 - cpu0)) --argjson db "$(db_ticks "$db0" "$db1")" --argjson wall $(((t1 - t0) / 1000)) \
      --argjson hwm "$(bench_hwm_kib "$pid")" \
      '. + {kind: "load", system: $system, conns: $conns, server_cpu_s: ($cpu / $clk), db_cpu_s: (if $db == null then null else $db / $clk end),
            wall_us: $wall, peak_rss_kib: $hwm}' <<<"$wrk_json")"
    bench_log "$system c=$conns: $(jq -r '"\(.requests / .duration_us * 1e6 | floor) req/s, p99 \(.p99_us) µs"' <<<"$wrk_json")"
  done
}

start_server() { # SYSTEM PORT -> sets server_pid
  local system=$1 p=$2
  case $system in
    authbridge-pg) bench_start_authbridge "$url" "$p" "$work/$system.log" --pool-size "$pool_size" ;;
    authbridge-pg-cache)
      bench_start_authbridge "$url" "$p" "$work/$system.log" --pool-size "$pool_size" --session-cache-ttl 1s
      ;;
    authbridge-pg-cache-60) # the revocation test: only a notification can end a cached answer
      bench_start_authbridge "$url" "$p" "$work/$system-$p.log" --pool-size "$pool_size" --session-cache-ttl 60s
      ;;
    authbridge-pgbouncer) bench_start_authbridge "$bouncer_url" "$p" "$work/$system.log" --pool-size "$pool_size" ;;
    # The embedded default as a newcomer runs it: its own pool default (--pool-size reads it).
    authbridge-sqlite) bench_start_authbridge "file:$work/authbridge.db" "$p" "$work/$system.log" ;;
    pg-adapter | prisma-adapter)
      (cd "$BENCH_DIR" && DATABASE_URL="$url" PORT="$p" POOL_SIZE="$pool_size" TZ=UTC NODE_ENV=production \
        exec $BENCH_NICE_CMD node peers/dist/server.mjs "${system%-adapter}") >"$work/$system.log" 2>&1 &
      BENCH_PID=$!
      ;;
  esac
  server_pid=$BENCH_PID
  pids+=("$server_pid")
  bench_wait_http "http://127.0.0.1:$p/healthz" || { cat "$work/$system.log"; exit 1; }
  kill -0 "$server_pid" 2>/dev/null || { bench_log "$system exited; another process answers on $p"; cat "$work/$system.log"; exit 1; }
}

stop_server() {
  bench_stop "$server_pid"
  pids=("${pids[@]/$server_pid/}")
}

# The session cache's counters, from /metrics: {"hits": N, "misses": N}.
cache_counts() {
  curl -fs "$1/metrics" | awk '/^authbridge_session_cache_(hits|misses)_total / { sub(/authbridge_session_cache_/, "", $1); sub(/_total/, "", $1); printf "%s\"%s\":%d", (n++ ? "," : "{"), $1, $2 } END { print "}" }'
}

systems=(authbridge-pg authbridge-pg-cache authbridge-pgbouncer pg-adapter prisma-adapter authbridge-sqlite)
if [ "$hashed" = 1 ]; then
  systems=(authbridge-pg authbridge-pg-cache authbridge-pgbouncer authbridge-sqlite)
fi
for system in "${systems[@]}"; do
  bench_log "load: $system (pool $pool_size)"
  start_server "$system" "$port"
  if [ "$system" = authbridge-pg-cache ]; then
    measure_http "$system" "$server_pid" "http://127.0.0.1:$port" "$work/hot-tokens.txt"
    counts=$(cache_counts "http://127.0.0.1:$port")
    record "$(jq -c --argjson hot "$hot" '. + {kind: "cache", system: "authbridge-pg-cache", hot_sessions: $hot}' <<<"$counts")"
    bench_log "$system: $counts"
  else
    measure_http "$system" "$server_pid" "http://127.0.0.1:$port"
  fi
  stop_server
done

# run_pgbench SYSTEM SQL_FILE: pgbench -M prepared on the statement of SQL_FILE, one measured run
# per connection count.
run_pgbench() {
  local system=$1 sql=$2 conns threads pgb pgbench_pid backends db0 db1 t0 t1
  cat >"$work/$system.pgbench" <<SQL
\\set i random(1, $fresh)
$(token=$(bench_token_sql :i); [ "$hashed" = 0 ] || token=$(hash_sql "$token")
  sed -e "s/:token/$token/g" "$sql")
SQL
  for conns in $conns_list; do
    threads=$((conns < 2 ? 1 : 2))
    pgb=($BENCH_NICE_CMD "$BENCH_PGBENCH" -n -M prepared -c "$conns" -j "$threads" -f "$work/$system.pgbench" "$url")
    "${pgb[@]}" -T "$warmup" >/dev/null 2>&1
    rm -f "$work"/pgbench_log.*
    for _ in $(seq 1 50); do [ -z "$(bench_pg_backends "$db")" ] && break; sleep 0.2; done
    # Measured over a window inside the run, while every backend is still connected: a backend's
    # CPU time can no longer be read once pgbench has disconnected it.
    (cd "$work" && exec "${pgb[@]}" -T $((seconds + 8)) -l >"$work/pgbench.out" 2>&1) &
    pgbench_pid=$!
    # The window opens once every client is connected.
    for _ in $(seq 1 50); do
      sleep 0.2
      backends=$(bench_pg_backends "$db")
      [ "$(wc -w <<<"$backends")" -ge "$conns" ] && break
    done
    bench_renice_db "$db"
    db0=$(bench_cpu_snapshot $backends) t0=$(date +%s%N)
    sleep "$seconds"
    db1=$(bench_cpu_snapshot $backends) t1=$(date +%s%N)
    if ! grep -qs '^State:[[:space:]]*[RSD]' "/proc/$pgbench_pid/status"; then
      bench_log "$system c=$conns ended before the measured window did:"
      cat "$work/pgbench.out" >&2
      exit 1
    fi
    wait "$pgbench_pid" || { cat "$work/pgbench.out"; exit 1; }
    record "$(python3 "$BENCH_DIR/report.py" pgbench-log $((t0 / 1000)) $((t1 / 1000)) "$work"/pgbench_log.* |
      jq -c --arg system "$system" --argjson conns "$conns" --argjson clk "$BENCH_CLK_TCK" --argjson db "$(db_ticks "$db0" "$db1")" \
        '. + {kind: "load", system: $system, conns: $conns, server_cpu_s: null, db_cpu_s: (if $db == null then null else $db / $clk end),
              wall_us: .duration_us}')"
    if [ "$(tail -n 1 "$results" | jq .requests)" = 0 ]; then
      bench_log "$system c=$conns: no transaction inside the measured window"
      tail -n 5 "$work/pgbench.out" >&2
    fi
    bench_log "$system c=$conns: $(tail -n 1 "$results" | jq -r '"\(.requests / .duration_us * 1e6 | floor) tps, p99 \(.p99_us) µs"')"
  done
}

bench_log "load: pgbench -M prepared, the same statement"
run_pgbench pgbench "$BENCH_DIR/session-read.sql"
bench_log "load: pgbench -M prepared, the plain read (SELECT sessions JOIN users by token)"
run_pgbench pgbench-plain "$BENCH_DIR/session-read-plain.sql"

bench_log "writes per $((due * writes_repeat)) getSessionAndUser calls (updateAge 24 h)"
bench_psql "$url" <<'SQL'
CREATE TABLE bench_session_writes (session_id text NOT NULL);
CREATE FUNCTION bench_log_session_write() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO bench_session_writes VALUES (NEW.id); RETURN NULL; END $$;
CREATE TRIGGER bench_session_writes AFTER UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION bench_log_session_write();
SQL
sqlite3 "$work/authbridge.db" <<'SQL'
CREATE TABLE bench_session_writes (session_id TEXT NOT NULL);
CREATE TRIGGER bench_session_writes AFTER UPDATE ON sessions BEGIN INSERT INTO bench_session_writes VALUES (NEW.id); END;
SQL
count_sql="SELECT count(*), count(DISTINCT session_id), coalesce(max(c), 0)
           FROM (SELECT session_id, count(*) OVER (PARTITION BY session_id) AS c FROM bench_session_writes) AS w"
for system in "${systems[@]}"; do
  # Every due session back to "last slid 25 h ago", and the write log emptied.
  if [ "$system" = authbridge-sqlite ]; then
    sqlite3 "$work/authbridge.db" "UPDATE sessions SET expires = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+29 days', '-1 hours')
      WHERE id IN (SELECT id FROM bench_due); DELETE FROM bench_session_writes;"
  else
    bench_psql "$url" -c "UPDATE sessions SET expires = date_trunc('milliseconds', now() AT TIME ZONE 'UTC') + interval '29 days' - interval '1 hour'
      WHERE id IN (SELECT id FROM bench_due)" -c "DELETE FROM bench_session_writes"
  fi
  start_server "$system" "$port"
  calls=$(node "$BENCH_DIR/calls.mjs" "http://127.0.0.1:$port" "$work/due-tokens.txt" "$writes_repeat" 32)
  stop_server
  if [ "$system" = authbridge-sqlite ]; then
    counts=$(sqlite3 -separator ' ' "$work/authbridge.db" "$count_sql")
  else
    counts=$(bench_psql -F ' ' "$url" -c "$count_sql")
  fi
  read -r writes written max_per <<<"$counts"
  record "$(jq -c --arg system "$system" --argjson sessions "$due" --argjson writes "$writes" \
    --argjson written "$written" --argjson max "$max_per" \
    '. + {kind: "writes", system: $system, due_sessions: $sessions, writes: $writes, sessions_written: $written,
          max_writes_per_session: $max}' <<<"$calls")"
  bench_log "$system: $calls, $writes writes on $written sessions"
done

bench_log "revocation: $signouts sign-outs through instance A, instance B (loaded) polled until it answers null"
start_server authbridge-pg-cache-60 "$port"
a_pid=$server_pid
start_server authbridge-pg-cache-60 "$((port + 1))"
b_pid=$server_pid
BENCH_TOKENS="$work/signout-tokens.txt" $BENCH_NICE_CMD wrk -t2 -c8 -d3600s --timeout 10s -s "$BENCH_DIR/session-read.lua" \
  "http://127.0.0.1:$((port + 1))" >/dev/null 2>&1 &
loader_pid=$!
pids+=("$loader_pid")
revocation=$(python3 "$BENCH_DIR/revocation.py" "http://127.0.0.1:$port" "http://127.0.0.1:$((port + 1))" \
  "$work/signout-tokens.txt" "$signouts")
bench_stop "$loader_pid"
for pid in "$a_pid" "$b_pid"; do
  bench_stop "$pid"
  pids=("${pids[@]/$pid/}")
done
record "$(jq -c --argjson loaders 8 '. + {kind: "revocation", loader_conns: $loaders}' <<<"$revocation")"
bench_log "revocation: $revocation"

# Issue 22's rows: goodput at 32 and 800 connections, the log under overload, the request line's
# cost. bench/overload.sh seeds plain tokens of its own, so only the default configuration runs it.
overload_md=""
if [ "$default_config" = 1 ]; then
  bench_log "overload (bench/overload.sh): 32 and ${BENCH_OVERLOAD_CONNS:-800} connections, the request log line's cost"
  overload_md=$(AUTHBRIDGE_BIN="$AUTHBRIDGE_BIN" BENCH_PORT=$((port + 50)) \
    bash "$BENCH_DIR/overload.sh" $([ "$smoke" = 1 ] && echo --smoke))
fi

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
meta=$(jq -n --arg smoke "$smoke" --arg users "$users" --arg sessions "$sessions" --arg due "$due" \
  --arg seconds "$seconds" --arg warmup "$warmup" --arg pool "$pool_size" --arg load_before "$load_before" \
  --arg load_after "$load_after" --arg elapsed "$(($(date -u +%s) - started))" \
  --arg nice "$([ "${BENCH_NICE:-0}" = 1 ] && echo 'nice -20 for the servers, wrk, pgbench and the database'"'"'s backends (BENCH_NICE=1)' || echo 'default (BENCH_NICE unset)')" \
  --arg wrk_threads "${BENCH_WRK_THREADS:-1 for one connection, else 2}" \
  --arg authbridge "$(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
  --arg rustc "$(rustc --version)" --arg postgres "$(bench_psql "$url" -c 'SHOW server_version')" \
  --arg sqlite "$(sqlite3 --version | cut -d' ' -f1)" --arg node "$(node --version)" \
  --arg wrk "$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)" --arg pgbench "$("$BENCH_PGBENCH" --version)" \
  --arg peers "$(cd "$BENCH_DIR" && node -e 'const p=require("./package.json");console.log(Object.entries(p.dependencies).map(([k])=>k+" "+require("./node_modules/"+k+"/package.json").version).join(", "))')" \
  --arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)" --arg cores "$(nproc)" \
  --arg mem "$(free -g | awk '/^Mem:/ {print $2 " GiB"}')" --arg kernel "$(uname -sr)" \
  --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" '$ARGS.named')
overload_section=""
[ -z "$overload_md" ] || overload_section=$(printf '\n### Overload: getSessionAndUser on PostgreSQL at 32 and %s connections (bench/overload.sh, defaults)\n\n%s\n' \
  "${BENCH_OVERLOAD_CONNS:-800}" "$overload_md")
if [ "$smoke" = 1 ] || [ "$default_config" = 0 ]; then
  python3 "$BENCH_DIR/report.py" table "$results" "$meta"
  printf '%s\n' "$overload_section"
else
  python3 "$BENCH_DIR/report.py" table "$results" "$meta" --write "$BENCH_DIR/RESULTS.md"
  printf '%s\n' "$overload_section" | tee -a "$BENCH_DIR/RESULTS.md"
  bench_log "wrote bench/RESULTS.md"
fi

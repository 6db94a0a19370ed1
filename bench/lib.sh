# Shared helpers for the benchmark scripts. Source it from bash: `. "$(dirname "$0")/lib.sh"`.
#
#   bench_ensure_tools                  install wrk / pgbench / sqlite3 with apt when missing
#   bench_build                         cargo build --release (a no-op when up to date); sets AUTHBRIDGE_BIN
#   bench_pg_create NAME                (re)create scratch database NAME, print its URL
#   bench_pg_drop NAME
#   bench_discard DIR DB                drop scratch database DB and remove DIR, unless BENCH_KEEP=1 (then say so)
#   bench_migrate URL                   authbridge migrate: the tables Prisma makes, from our migrations
#   bench_seed_pg URL USERS SESSIONS [DUE]
#                                       USERS users, SESSIONS sessions; the last DUE of them are due for a
#                                       slide (expires = now + 29 d - 1 h), the others fresh (not due for 4 h+)
#   bench_token_sql I                   SQL expression of session I's token (64 hex chars, as authbridge makes)
#   bench_tokens URL FILE [WHERE]       write the tokens of matching sessions, one a line
#   bench_sqlite_from_pg URL FILE       copy the seeded PostgreSQL rows into a migrated SQLite file
#   bench_start_authbridge URL PORT LOG [ARGS...]   start the release binary; sets BENCH_PID
#   bench_start_pgbouncer PORT POOL DIR  Debian's PgBouncer, pool_mode = transaction, POOL server
#                                       connections per database, in front of BENCH_PG; sets BENCH_PID
#   bench_wait_http URL                 wait until URL answers (30 s)
#   bench_stop PID                      SIGTERM and wait
#   bench_wrk URL CONNS SECONDS TOKENS [THREADS]    run session-read.lua; prints its BENCH_JSON line
#   bench_cpu_ticks PID                 utime+stime of PID in clock ticks
#   bench_pg_backends DB                pids of the backends connected to DB
#   bench_cpu_snapshot PID...           "pid ticks" of each live PID
#   bench_cpu_delta SNAP1 SNAP2         ticks spent between two snapshots (pids in both)
#   bench_hwm_kib PID                   peak RSS (VmHWM) of PID in KiB
#   bench_renice_db DB                  with BENCH_NICE=1: nice -20 for DB's backends
#   $BENCH_NICE_CMD                     "nice -n -20" with BENCH_NICE=1, else empty: prefix for commands
#
# Environment: BENCH_PG (default postgresql://postgres@127.0.0.1:5432), PSQL options for user postgres.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BENCH_PG=${BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
BENCH_CLK_TCK=$(getconf CLK_TCK)
BENCH_NICE_CMD=""
if [ "${BENCH_NICE:-0}" = 1 ]; then
  BENCH_NICE_CMD="nice -n -20"
  # The measuring shell too: its samples must not wait behind the load it measures.
  renice -n -20 -p $$ >/dev/null
fi

bench_log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

bench_psql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }

bench_ensure_tools() {
  local apt=()
  command -v wrk >/dev/null || apt+=(wrk)
  command -v sqlite3 >/dev/null || apt+=(sqlite3)
  command -v psql >/dev/null || apt+=(postgresql-client)
  command -v python3 >/dev/null || apt+=(python3)
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || apt+=(pgbouncer)
  if ! command -v pgbench >/dev/null && ! ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1; then
    # Debian ships pgbench in postgresql-<major> (the server package) and in postgresql-contrib.
    apt+=(postgresql-contrib)
  fi
  if [ ${#apt[@]} -gt 0 ]; then
    bench_log "installing ${apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt[@]}" >/dev/null
  fi
  if command -v pgbench >/dev/null; then
    BENCH_PGBENCH=$(command -v pgbench)
  else
    BENCH_PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)
  fi
}

bench_build() {
  (cd "$BENCH_ROOT" && cargo build --release --locked -q)
  AUTHBRIDGE_BIN="$BENCH_ROOT/target/release/authbridge"
}

bench_pg_create() {
  bench_psql "$BENCH_PG/postgres" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\"" >/dev/null
  echo "$BENCH_PG/$1"
}

bench_pg_drop() { bench_psql "$BENCH_PG/postgres" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null; }

bench_migrate() { DATABASE_URL="$1" RUST_LOG=warn "$AUTHBRIDGE_BIN" migrate; }

bench_token_sql() { echo "encode(sha256(('authbridge-bench-' || ($1))::text::bytea), 'hex')"; }

bench_seed_pg() {
  local url=$1 users=$2 sessions=$3 due=${4:-0}
  bench_psql "$url" <<SQL
INSERT INTO users (id, name, email, "emailVerified", image)
SELECT 'c' || substr(md5('user-' || i), 1, 24), 'Bench User ' || i, 'user' || i || '@bench.example',
       date_trunc('milliseconds', now() AT TIME ZONE 'UTC') - interval '90 days',
       'https://bench.example/avatars/' || i || '.png'
FROM generate_series(1, $users) AS i;
INSERT INTO sessions (id, "sessionToken", "userId", expires)
SELECT 'c' || substr(md5('session-' || i), 1, 24), $(bench_token_sql i),
       'c' || substr(md5('user-' || (1 + (i - 1) % $users)), 1, 24),
       date_trunc('milliseconds', now() AT TIME ZONE 'UTC') + CASE
         WHEN i > $sessions - $due THEN interval '29 days' - interval '1 hour'
         ELSE interval '30 days' - (i % 72000) * interval '1 second' END
FROM generate_series(1, $sessions) AS i;
VACUUM ANALYZE users;
VACUUM ANALYZE sessions;
SQL
}

bench_discard() {
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    bench_log "kept $1 and database $2"
  else
    bench_pg_drop "$2" || true
    rm -rf "$1"
  fi
}

bench_tokens() {
  local url=$1 file=$2 where=${3:-true}
  bench_psql "$url" -c "\\copy (SELECT \"sessionToken\" FROM sessions WHERE $where ORDER BY id) TO '$file'"
}

bench_sqlite_from_pg() {
  local url=$1 file=$2 tmp
  tmp=$(mktemp -d)
  rm -f "$file" "$file-wal" "$file-shm"
  DATABASE_URL="file:$file" AUTHBRIDGE_SQLITE_DATETIME_FORMAT=iso8601 bench_migrate "file:$file"
  # Prisma 7's SQLite adapters store DateTime as ISO text with milliseconds and +00:00.
  local iso='YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'
  bench_psql "$url" -c "\\copy (SELECT id, name, email, to_char(\"emailVerified\", '$iso'), image FROM users) TO '$tmp/users.csv' CSV"
  bench_psql "$url" -c "\\copy (SELECT id, \"sessionToken\", \"userId\", to_char(expires, '$iso') FROM sessions) TO '$tmp/sessions.csv' CSV"
  sqlite3 "$file" ".import --csv $tmp/users.csv users" ".import --csv $tmp/sessions.csv sessions" "ANALYZE;"
  rm -rf "$tmp"
}

bench_start_authbridge() {
  local url=$1 port=$2 log=$3
  shift 3
  # Another benchmark's server on this port would answer in this one's place, with the same seeded
  # data, so its numbers would pass every check: refuse to start instead.
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    bench_log "port $port already answers (another benchmark?): set BENCH_PORT_BASE / BENCH_PORT"
    return 1
  fi
  DATABASE_URL="$url" AUTHBRIDGE_BIND="127.0.0.1:$port" $BENCH_NICE_CMD "$AUTHBRIDGE_BIN" "$@" >"$log" 2>&1 &
  BENCH_PID=$!
}

bench_start_pgbouncer() {
  local port=$1 pool=$2 dir=$3 upstream=${BENCH_PG##*@} user=${BENCH_PG#*://}
  user=${user%%@*}
  user=${user%%:*}
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=${upstream%%:*} port=${upstream##*:}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/pgbouncer-users.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 1000
server_reset_query =
logfile = $dir/pgbouncer.log
INI
  echo "\"$user\" \"\"" >"$dir/pgbouncer-users.txt"
  # PgBouncer refuses to run as root; -u drops to the postgres user.
  local as=()
  [ "$(id -u)" != 0 ] || { chown postgres "$dir" "$dir"/pgbouncer*; as=(-u postgres); }
  $BENCH_NICE_CMD "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -q "${as[@]}" "$dir/pgbouncer.ini" &
  BENCH_PID=$!
  local i
  for i in $(seq 1 100); do
    # Plain psql: PgBouncer 1.18 refuses the options start-up parameter that bench_psql's PGOPTIONS sends.
    psql -X -q -tA "postgresql://$user@127.0.0.1:$port/postgres" -c "SELECT 1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  bench_log "PgBouncer did not start:"
  cat "$dir/pgbouncer.log" >&2
  return 1
}

bench_wait_http() {
  local i
  for i in $(seq 1 300); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  bench_log "no answer from $1"
  return 1
}

bench_stop() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  wait "$pid" 2>/dev/null || true
}

bench_wrk() {
  local url=$1 conns=$2 secs=$3 tokens=$4 threads=${5:-}
  [ -n "$threads" ] || threads=$((conns < 2 ? 1 : 2))
  BENCH_TOKENS="$tokens" $BENCH_NICE_CMD wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s -s "$BENCH_DIR/session-read.lua" "$url" |
    sed -n 's/^BENCH_JSON //p'
}

# Shell builtins only: a fork per sample would itself wait behind the load it measures.
# After the parenthesised command name, fields 12 and 13 (1-based) are utime and stime.
bench_cpu_ticks() {
  local line fields
  read -r line <"/proc/$1/stat" || return 1
  read -r -a fields <<<"${line##*) }"
  echo $((fields[11] + fields[12]))
}

# The pids of the backends connected to database DB (other databases' are left out), from their
# process titles ("postgres: 15/main: USER DB HOST(PORT) STATE"): a query would need a backend of
# its own, which a loaded server (or one the benchmark runs at nice -20) can keep waiting seconds.
bench_pg_backends() {
  pgrep -f "^postgres: .*[^ ]+ $1 [^ ]+ " || true
}

# "pid ticks" (utime+stime) for each live pid given: /proc only, so it takes no time to run.
bench_cpu_snapshot() {
  local pid line fields
  for pid in "$@"; do
    { read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
    read -r -a fields <<<"${line##*) }"
    echo "$pid $((fields[11] + fields[12]))"
  done
  return 0
}

# CPU ticks between two snapshots, summed over the pids present in both.
bench_cpu_delta() {
  awk 'NR == FNR { before[$1] = $2; next } ($1 in before) { total += $2 - before[$1] } END { print total + 0 }' \
    <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# Raises the priority of DB's backends (nice -20): on a shared machine other work otherwise takes
# the cores from under the measurement. Only with BENCH_NICE=1.
bench_renice_db() {
  [ "${BENCH_NICE:-0}" = 1 ] || return 0
  local pids
  pids=$(bench_pg_backends "$1")
  [ -z "$pids" ] || renice -n -20 -p $pids >/dev/null
}

bench_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

#!/usr/bin/env bash
# Drops the scratch databases named PREFIX* that an interrupted earlier run left behind, on the
# PostgreSQL server of TEST_POSTGRES_URL and the MySQL/MariaDB server of TEST_MYSQL_URL (each only
# when it is set and its client, psql / mariadb, is installed). Used by the suites' ci.sh scripts.
#   scripts/drop-leftover-databases.sh ab_adapter_
set -euo pipefail
prefix=${1:?usage: drop-leftover-databases.sh PREFIX}
# LIKE pattern: `_` is a wildcard in SQL, so the prefix's own underscores are escaped.
pattern="$(printf '%s' "$prefix" | sed 's/_/\\_/g')%"

if [ -n "${TEST_POSTGRES_URL:-}" ] && command -v psql >/dev/null; then
  for db in $(psql "$TEST_POSTGRES_URL" -qtAc "SELECT datname FROM pg_database WHERE datname LIKE '$pattern'"); do
    psql "$TEST_POSTGRES_URL" -qtAc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
  done
fi

if [ -n "${TEST_MYSQL_URL:-}" ] && command -v mariadb >/dev/null; then
  # mysql://user[:password]@host[:port]/db; the password goes through MYSQL_PWD, never argv.
  read -r host port user < <(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname, p.port or 3306, u.unquote(p.username or "root"))' "$TEST_MYSQL_URL")
  MYSQL_PWD=$(python3 -c 'import sys, urllib.parse as u; print(u.unquote(u.urlparse(sys.argv[1]).password or ""))' "$TEST_MYSQL_URL")
  export MYSQL_PWD
  mysql_cmd=(mariadb -h "$host" -P "$port" -u "$user" -N)
  for db in $("${mysql_cmd[@]}" -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '$pattern'"); do
    "${mysql_cmd[@]}" -e "DROP DATABASE IF EXISTS \`$db\`"
  done
fi

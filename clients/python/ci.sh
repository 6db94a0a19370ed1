#!/usr/bin/env bash
# CI for the Python client (called by .ci/run once the release binary is built): a venv with the
# exact versions of requirements-dev.txt, the package installed from its wheel with both extras,
# ruff (lint and format check), mypy --strict, then pytest against the release binary on SQLite
# and PostgreSQL.
#   TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres clients/python/ci.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

. "$root/scripts/client-suite-env.sh" ab_test_py_
python3 -c "import ensurepip, venv" 2>/dev/null || {
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv >/dev/null
}

# The venv lives in target/ and is rebuilt only when requirements-dev.txt changes.
venv="$root/target/python-client-venv"
stamp=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$stamp" > "$venv/.requirements"
fi
"$venv/bin/python" --version
# Built into a wheel and installed as a user gets it (py.typed included), by the pinned hatchling;
# --no-index: the extras must resolve to the pinned versions already in the venv.
"$venv/bin/pip" uninstall --quiet --yes authbridge 2>/dev/null || true
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-index --no-build-isolation ".[fastapi,django]"

export MYPY_CACHE_DIR="$root/target/python-client-mypy-cache" RUFF_CACHE_DIR="$root/target/python-client-ruff-cache"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy"
"$venv/bin/pytest" -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Makes DIR a Python venv holding exactly PACKAGE==VERSION from PyPI, reusing it when it already
# does (the venvs live in target/, so repeated local runs skip the install).
#   scripts/pinned-venv.sh target/fuzz-venv schemathesis 4.32.5
set -euo pipefail
venv=${1:?usage: pinned-venv.sh DIR PACKAGE VERSION} package=${2:?} version=${3:?}
if ! "$venv/bin/pip" show "$package" 2>/dev/null | grep -qx "Version: $version"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$package==$version"
fi

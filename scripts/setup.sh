#!/usr/bin/env bash
# Set up postcred in ./.venv: the package with its test, training and Dask extras.
# With --browser, also install Debian's chromium and the Japanese and emoji fonts, each when
# it is missing (scripts/browser_deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e ".[test,train,dask]"
# An editable install leaves the package uncompiled: compile its bytecode now, so that no
# run compiles its modules again (about 0.1 s of each start-up where bytecode is not
# written back: PYTHONDONTWRITEBYTECODE, a read-only checkout).
.venv/bin/python -m compileall -q classifier

if [ "${1:-}" = "--browser" ]; then
  bash scripts/browser_deps.sh
fi

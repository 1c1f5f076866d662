#!/usr/bin/env bash
# Create .venv with the pinned dev tools (pytest, ruff, mypy, hypothesis, workers-py,
# workers-runtime-sdk) and the project itself (editable). Idempotent: a second run only
# checks that all is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python dev tools into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "pip>=25.1" 2> >(grep -v "is ignored: it is neither" >&2)
  .venv/bin/python -m pip install -q --disable-pip-version-check --group dev 2> >(grep -v "is ignored: it is neither" >&2)
  # The project itself, editable: `seeding` (and the seeding-prerender / seeding-copy
  # commands) for the scripts, tests and benchmarks, straight from src/. Its build backend
  # (flit_core) writes nothing into the checkout, so nothing here gets uploaded by wrangler.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e . 2> >(grep -v "is ignored: it is neither" >&2)
  rm -f .venv/.installed-*
  touch "$stamp"
fi

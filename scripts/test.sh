#!/usr/bin/env bash
# The README's test command. Sets up what it needs on a fresh machine (Python venv,
# Node packages from the lockfile, Chromium for the screenshot test), then runs the
# linters and every test: unit tests under CPython, HTTP tests against the local
# runtime. Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/unit -k cache`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-python.sh
bash scripts/setup-node.sh
bash scripts/setup-chromium.sh

echo "test: ruff"
.venv/bin/ruff check src scripts tests bench runtime examples
.venv/bin/ruff format --check src scripts tests bench runtime examples
echo "test: mypy src/seeding"
.venv/bin/mypy --no-error-summary src/seeding
echo "test: pytest"
exec .venv/bin/pytest "$@"

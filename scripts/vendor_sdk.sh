#!/usr/bin/env bash
# Vendor this repository's Python Worker dependencies into python_modules/ (its pyproject has none
# at run time, so: the pinned `workers` SDK), as `pywrangler sync` does, offline but for PyPI.
# The work is runtime/vendor.py (`python -m runtime.vendor --help`), shared with the tests and any
# other project; it does nothing when its inputs are unchanged. Arguments go to it (--force).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" -m runtime.vendor --project . "$@"

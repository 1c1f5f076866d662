#!/usr/bin/env bash
# Vendor the `workers` SDK into python_modules/, as `pywrangler sync` does (it cannot run
# offline: it downloads a Pyodide build environment). For a pure-Python wheel, sync is
# `pip install --target` plus a `pyvenv.cfg` marker and a `.synced` token.
# The version is the one pinned in pyproject.toml's dev group (single source of truth).
# Idempotent: does nothing when python_modules/ already holds that version.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: scripts/vendor_sdk.sh [--force]   install workers-runtime-sdk (pinned in pyproject.toml) into python_modules/"
  exit 0
fi
version="$(sed -n 's/^[[:space:]]*"workers-runtime-sdk==\([^"]*\)".*/\1/p' pyproject.toml | head -n1)"
if [ -z "$version" ]; then
  echo "vendor_sdk: no 'workers-runtime-sdk==X' pin found in pyproject.toml" >&2
  exit 1
fi
marker="python_modules/workers_runtime_sdk-${version}.dist-info"
if [ "${1:-}" != "--force" ] && [ -d "$marker" ] && [ -d python_modules/workers ]; then
  exit 0
fi
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
echo "vendor_sdk: installing workers-runtime-sdk==${version} into python_modules/"
rm -rf python_modules
"$PY" -m pip install -q --disable-pip-version-check --no-deps --no-compile \
  --target python_modules "workers-runtime-sdk==${version}" 2> >(grep -v "is ignored: it is neither" >&2)
# pywrangler sync marks the folder as a venv and writes its version into .synced; this token
# names no pywrangler version, so a later `pywrangler sync` (with internet) still re-syncs.
touch python_modules/pyvenv.cfg
echo "vendor_sdk.sh (workers-runtime-sdk==${version})" > python_modules/.synced

#!/usr/bin/env bash
# Install the pinned Node packages (miniflare, wrangler, pyodide) from the lockfile.
# Idempotent: reinstalls only when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Node packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error 2> >(grep -v 'Unknown user config "nodedir"' >&2)
  touch "$stamp"
fi

#!/usr/bin/env bash
# Install the pinned Node packages (miniflare, wrangler, pyodide, a Node 22 binary on linux-x64)
# from package-lock.json. Idempotent: runs `npm ci` only when node_modules is missing or was
# installed from another lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm not found: install Node.js 20+ with npm" >&2
  exit 1
fi
stamp="node_modules/.installed-$(cat package.json package-lock.json | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Node packages (npm ci)"
  # --loglevel=error: npm itself may run on an older Node than the pinned tools ask for
  # (EBADENGINE warnings); the tools run on node_modules/.bin/node.
  npm ci --no-audit --no-fund --loglevel=error
  rm -f node_modules/.installed-*
  touch "$stamp"
fi

#!/usr/bin/env bash
# Run the Worker locally with the example site: install what is needed, build the prerendered
# pages, then serve the Python Worker (Miniflare + Pyodide, see runtime/README.md) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
usage: bash scripts/dev.sh [--port N] [--host HOST] [--no-build] [--no-watch] [--isolates N]
                          [--persist-to DIR] [--test-mode] [--control-port N]

  --port N          port to serve on (default: $PORT or 8787)
  --host HOST       address to listen on (default: 127.0.0.1)
  --no-build        skip prerender + copy (serve what public/ already holds)
  --no-watch        do not restart the Worker when a .py file under src/ changes
  --isolates N      run N isolates of the Worker (own module state, shared KV/D1), ports N, N+1, ...
  --persist-to DIR  keep KV and D1 data in DIR (default .wrangler/state, as wrangler)
  --test-mode, --control-port N
                    asset-fetch log, fault injection and the control API (runtime/README.md)
  -h, --help        show this help

Steps: scripts/setup-python.sh (.venv), scripts/setup-node.sh (npm ci when needed),
scripts/vendor_sdk.sh (workers SDK -> python_modules/), scripts/prerender.py --out build,
scripts/copy_prerender.py build public, the D1 migrations (wrangler d1 migrations apply
<database> --local for each [[d1_databases]] of wrangler.toml whose migrations folder exists),
then node runtime/server.mjs.
USAGE
}

port="${PORT:-8787}"
build=1
watch=1
persist_to=""
server_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --port) [ $# -ge 2 ] || { echo "dev: --port needs a value" >&2; exit 2; }; port="$2"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    --host) [ $# -ge 2 ] || { echo "dev: --host needs a value" >&2; exit 2; }; server_args+=(--host "$2"); shift 2 ;;
    --host=*) server_args+=(--host "${1#--host=}"); shift ;;
    --no-build) build=0; shift ;;
    --no-watch) watch=0; shift ;;
    --isolates) [ $# -ge 2 ] || { echo "dev: --isolates needs a value" >&2; exit 2; }; server_args+=(--isolates "$2"); shift 2 ;;
    --persist-to) [ $# -ge 2 ] || { echo "dev: --persist-to needs a value" >&2; exit 2; }; persist_to="$2"; shift 2 ;;
    --test-mode) server_args+=(--test-mode); shift ;;
    --control-port) [ $# -ge 2 ] || { echo "dev: --control-port needs a value" >&2; exit 2; }; server_args+=(--control-port "$2"); shift 2 ;;
    *) echo "dev: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

bash scripts/setup-python.sh
bash scripts/setup-node.sh
bash scripts/vendor_sdk.sh

if [ "$build" = 1 ]; then
  if [ -f scripts/prerender.py ]; then
    echo "dev: prerendering into build/"
    .venv/bin/python scripts/prerender.py --out build
  fi
  if [ -f scripts/copy_prerender.py ] && [ -d build ]; then
    echo "dev: copying build/ into public/__prerender/"
    .venv/bin/python scripts/copy_prerender.py build public
  fi
fi

# D1 migrations before serving: the runtime opens the migrated database (runtime/README.md).
.venv/bin/python - "$persist_to" <<'PY'
import sys
from pathlib import Path

from runtime.local_runtime import apply_d1_migrations

persist_to = Path(sys.argv[1]) if sys.argv[1] else None
if not apply_d1_migrations(Path("."), persist_to, echo=True):
    print("dev: no D1 migrations to apply (no [[d1_databases]] with a migrations folder)")
PY
if [ -n "$persist_to" ]; then server_args+=(--persist-to "$persist_to"); fi

# The pinned Node (node_modules/.bin/node, linux-x64) when present: miniflare needs Node 22.
node=node
[ -x node_modules/.bin/node ] && node=node_modules/.bin/node
args=(--port "$port" "${server_args[@]}")
[ "$watch" = 1 ] && args+=(--watch)
exec "$node" runtime/server.mjs "${args[@]}"

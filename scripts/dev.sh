#!/usr/bin/env bash
# Run the Worker locally with the example site: install what is needed, build the prerendered
# pages, then serve the Python Worker (Miniflare + Pyodide, see runtime/README.md) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
usage: bash scripts/dev.sh [--port N] [--host HOST] [--no-build] [--no-watch] [--test-mode] [--control-port N]

  --port N          port to serve on (default: $PORT or 8787)
  --host HOST       address to listen on (default: 127.0.0.1)
  --no-build        skip prerender + copy (serve what public/ already holds)
  --no-watch        do not restart the Worker when a .py file under src/ changes
  --test-mode, --control-port N
                    asset-fetch log, fault injection and the control API (runtime/README.md)
  -h, --help        show this help

Steps: scripts/setup-python.sh (.venv), scripts/setup-node.sh (npm ci when needed),
scripts/vendor_sdk.sh (workers SDK -> python_modules/), scripts/prerender.py --out build,
scripts/copy_prerender.py build public, then node runtime/server.mjs.
USAGE
}

port="${PORT:-8787}"
build=1
watch=1
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

# The pinned Node (node_modules/.bin/node, linux-x64) when present: miniflare needs Node 22.
node=node
[ -x node_modules/.bin/node ] && node=node_modules/.bin/node
args=(--port "$port" "${server_args[@]}")
[ "$watch" = 1 ] && args+=(--watch)
exec "$node" runtime/server.mjs "${args[@]}"

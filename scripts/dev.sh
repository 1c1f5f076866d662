#!/usr/bin/env bash
# Run a Python Worker locally: install what is needed, build the prerendered pages, then serve
# it (Miniflare + Pyodide, see runtime/README.md) until Ctrl-C. Without --project: this
# repository's Worker and example site; with --project DIR: the Worker project in DIR.
set -euo pipefail
caller="$PWD"
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
usage: bash scripts/dev.sh [--project DIR [--site MODULE:ATTR]] [--port N] [--host HOST]
                          [--no-build] [--allow-failed-routes] [--no-watch] [--isolates N]
                          [--persist-to DIR] [--test-mode] [--control-port N]

  --project DIR     serve the Worker project in DIR (its wrangler.toml and pyproject.toml)
                    instead of this repository's
  --site M:ATTR     with --project: the site to prerender, e.g. blog_site:SITE (default:
                    `site` of [tool.seeding] in DIR/pyproject.toml)
  --port N          port to serve on (default: $PORT or 8787)
  --host HOST       address to listen on (default: 127.0.0.1)
  --no-build        skip prerender + copy (serve what the assets folder already holds)
  --allow-failed-routes
                    serve even when routes failed to prerender (seeding-prerender exit 1):
                    they are named with the build's reason, left out of the copy, and
                    rendered by the Worker at run time. Without it such a build stops here
  --no-watch        do not restart the Worker when a .py file under main's folder changes
  --isolates N      run N isolates of the Worker (own module state, shared KV/D1), ports N, N+1, ...
  --persist-to DIR  keep KV and D1 data in DIR (default .wrangler/state, as wrangler)
  --test-mode, --control-port N
                    asset-fetch log, fault injection and the control API (runtime/README.md)
  -h, --help        show this help

Steps: scripts/setup-python.sh (.venv), scripts/setup-node.sh (npm ci when needed), then
  this repository: scripts/vendor_sdk.sh (workers SDK -> python_modules/),
    scripts/prerender.py --out build, scripts/copy_prerender.py build public;
  --project DIR: python -m runtime.vendor --project DIR (its [project] dependencies and the
    workers SDK -> DIR/python_modules/), DIR/.venv (the build's Python: created when missing,
    the same dependencies installed, local path ones editable), then in DIR
    .venv/bin/seeding-prerender --site M:ATTR --out build and
    .venv/bin/seeding-copy build <[assets] directory>;
the D1 migrations (wrangler d1 migrations apply <database> --local for each [[d1_databases]] of
wrangler.toml whose migrations folder exists), then node runtime/server.mjs.
USAGE
}

port="${PORT:-8787}"
build=1
allow_failed=0
watch=1
persist_to=""
project=""
site=""
server_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --project) [ $# -ge 2 ] || { echo "dev: --project needs a value" >&2; exit 2; }; project="$2"; shift 2 ;;
    --project=*) project="${1#--project=}"; shift ;;
    --site) [ $# -ge 2 ] || { echo "dev: --site needs a value" >&2; exit 2; }; site="$2"; shift 2 ;;
    --site=*) site="${1#--site=}"; shift ;;
    --port) [ $# -ge 2 ] || { echo "dev: --port needs a value" >&2; exit 2; }; port="$2"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    --host) [ $# -ge 2 ] || { echo "dev: --host needs a value" >&2; exit 2; }; server_args+=(--host "$2"); shift 2 ;;
    --host=*) server_args+=(--host "${1#--host=}"); shift ;;
    --no-build) build=0; shift ;;
    --allow-failed-routes) allow_failed=1; shift ;;
    --no-watch) watch=0; shift ;;
    --isolates) [ $# -ge 2 ] || { echo "dev: --isolates needs a value" >&2; exit 2; }; server_args+=(--isolates "$2"); shift 2 ;;
    --persist-to) [ $# -ge 2 ] || { echo "dev: --persist-to needs a value" >&2; exit 2; }; persist_to="$2"; shift 2 ;;
    --test-mode) server_args+=(--test-mode); shift ;;
    --control-port) [ $# -ge 2 ] || { echo "dev: --control-port needs a value" >&2; exit 2; }; server_args+=(--control-port "$2"); shift 2 ;;
    *) echo "dev: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -n "$site" ] && [ -z "$project" ]; then
  echo "dev: --site goes with --project (this repository's site is scripts/prerender.py's default)" >&2
  exit 2
fi
if [ -n "$project" ]; then
  # A relative DIR is read from where the command was run.
  found="$(cd "$caller" && cd "$project" 2>/dev/null && pwd)" \
    || { echo "dev: --project $project: no such folder" >&2; exit 2; }
  project="$found"
fi

bash scripts/setup-python.sh
bash scripts/setup-node.sh

# Run a prerender command (its arguments; the build directory first), and judge its exit:
# 1 (routes failed, build written) goes on only with --allow-failed-routes, naming them.
prerender() {
  local out="$1" code=0 before after
  shift
  before="$(stat -c '%i %Y' "$out/meta/manifest.json" 2>/dev/null || true)"
  "$@" || code=$?
  [ "$code" = 0 ] && return 0
  after="$(stat -c '%i %Y' "$out/meta/manifest.json" 2>/dev/null || true)"
  # Exit 1 with a new manifest: the build was written, some routes in it failed.
  if [ "$code" = 1 ] && [ -n "$after" ] && [ "$after" != "$before" ]; then
    if [ "$allow_failed" = 1 ]; then
      echo "dev: serving anyway (--allow-failed-routes); these routes failed to prerender and" \
        "are rendered by the Worker at run time:" >&2
      .venv/bin/python -m runtime.failed_routes "$out" >&2
      return 0
    fi
    echo "dev: routes failed to prerender (named above); fix them, or pass" \
      "--allow-failed-routes to serve anyway (they are then rendered at run time)" >&2
  fi
  exit "$code"
}

root=.
if [ -z "$project" ]; then
  bash scripts/vendor_sdk.sh
  if [ "$build" = 1 ]; then
    if [ -f scripts/prerender.py ]; then
      echo "dev: prerendering into build/"
      prerender build .venv/bin/python scripts/prerender.py --out build
    fi
    if [ -f scripts/copy_prerender.py ] && [ -d build ]; then
      echo "dev: copying build/ into public/__prerender/"
      .venv/bin/python scripts/copy_prerender.py build public
    fi
  fi
else
  root="$project"
  .venv/bin/python -m runtime.vendor --project "$project"
  if [ "$build" = 1 ]; then
    # The project's build settings, each read from its own file: line 1 the site
    # (--site, else [tool.seeding] site), line 2 the [assets] directory of wrangler.toml,
    # then pip's arguments for the build venv (its [project] dependencies, local paths
    # editable so the build always renders with their current code).
    mapfile -t settings < <(.venv/bin/python - "$project" "$site" <<'PY'
import sys
import tomllib
from pathlib import Path

from runtime.vendor import VendorError, read_requirements

project, site = Path(sys.argv[1]), sys.argv[2]


def fail(message: str) -> None:
    print(f"dev: error: {message}", file=sys.stderr)
    sys.exit(2)


pyproject = project / "pyproject.toml"
wrangler = project / "wrangler.toml"
for required in (pyproject, wrangler):
    if not required.is_file():
        fail(f"{required} not found: --project must name a Worker project (README.md)")
if not site:
    tool = tomllib.loads(pyproject.read_text()).get("tool", {}).get("seeding", {})
    site = tool.get("site") if isinstance(tool, dict) else None
    if not isinstance(site, str) or ":" not in site:
        fail(
            f"{pyproject}: [tool.seeding] site is not set: add `site = \"my_site:SITE\"` "
            "(the module under main's folder and its AsgiSite), or pass --site"
        )
assets = tomllib.loads(wrangler.read_text()).get("assets", {}).get("directory")
if not isinstance(assets, str) or not assets:
    fail(f'{wrangler}: [assets] directory is not set: add `directory = "./public"`')
try:
    requirements = read_requirements(project)
except VendorError as exc:
    fail(str(exc))
print(site)
print(assets)
for requirement in requirements:
    if requirement.path is None:
        print(requirement.text)
    else:
        print("-e")
        print(requirement.path)
PY
    )
    [ "${#settings[@]}" -ge 2 ] || exit 2
    site="${settings[0]}"
    assets="${settings[1]}"
    pip_args=("${settings[@]:2}")
    venv="$project/.venv"
    stamp="$venv/.dev-installed-$(printf '%s\n' "${pip_args[@]}" | sha256sum | cut -c1-16)"
    if [ ! -x "$venv/bin/python" ]; then
      echo "dev: creating the build venv $venv"
      "${PYTHON:-python3}" -m venv "$venv"
    fi
    if [ ! -f "$stamp" ]; then
      echo "dev: installing the project's dependencies into $venv"
      # Local folders are installed editable (-e DIR); what their build leaves in them goes.
      folders=()
      for ((i = 0; i < ${#pip_args[@]}; i++)); do
        [ "${pip_args[i]}" = "-e" ] && folders+=(--folder "${pip_args[i + 1]}")
      done
      .venv/bin/python -m runtime.build_leftovers "${folders[@]}" -- \
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pip_args[@]}" \
        2> >(grep -v "is ignored: it is neither" >&2)
      rm -f "$venv"/.dev-installed-*
      touch "$stamp"
    fi
    if [ ! -x "$venv/bin/seeding-prerender" ]; then
      echo "dev: error: $venv has no seeding-prerender: add lazy-seed-python-worker to" \
        "[project] dependencies of $project/pyproject.toml (README.md, \"Use it with your own app\")" >&2
      exit 1
    fi
    echo "dev: prerendering $site into $project/build/"
    prerender "$project/build" \
      bash -c 'cd "$1" && exec .venv/bin/seeding-prerender --site "$2" --out build' _ "$project" "$site"
    echo "dev: copying build/ into $assets/__prerender/"
    (cd "$project" && .venv/bin/seeding-copy build "$assets")
  fi
fi

# D1 migrations before serving: the runtime opens the migrated database (runtime/README.md).
.venv/bin/python - "$root" "$persist_to" <<'PY'
import sys
from pathlib import Path

from runtime.local_runtime import apply_d1_migrations

persist_to = Path(sys.argv[2]) if sys.argv[2] else None
if not apply_d1_migrations(Path(sys.argv[1]), persist_to, echo=True):
    print("dev: no D1 migrations to apply (no [[d1_databases]] with a migrations folder)")
PY
if [ -n "$persist_to" ]; then server_args+=(--persist-to "$persist_to"); fi

# The pinned Node (node_modules/.bin/node, linux-x64) when present: miniflare needs Node 22.
node=node
[ -x node_modules/.bin/node ] && node=node_modules/.bin/node
args=(--root "$root" --port "$port" "${server_args[@]}")
[ "$watch" = 1 ] && args+=(--watch)
exec "$node" runtime/server.mjs "${args[@]}"

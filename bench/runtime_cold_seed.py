#!/usr/bin/env python3
"""Cold seeds in the local runtime (Pyodide inside workerd, runtime/): what the first
requests of a fresh isolate cost for a prerendered site of any size.

    python bench/synthetic_site.py --routes 100000 --out /tmp/b100k
    python scripts/copy_prerender.py /tmp/b100k /tmp/p100k --layout sharded
    python bench/runtime_cold_seed.py --build /tmp/b100k --assets /tmp/p100k --index sharded

It serves this repository's Worker (src/, its wrangler.toml settings, with SEED_INDEX
set to --index) over ASSETS_DIR, in a temporary project root, then for each isolate
(a restart: fresh module state, Python loaded first) requests --samples prerendered
routes one after the other. Reported, from the runtime's own Python log (time inside
Python, without HTTP): the first request (which also loads build.json or the
manifest), the following cold requests (each a shard + pack, or a route file), and
the asset fetches each made. Needs the local runtime (bash scripts/setup-node.sh).

Exit codes: 0 done; 1 the runtime failed; 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (str(ROOT), str(ROOT / "src")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench.scale import sample_routes  # noqa: E402
from seeding.manifest import parse_manifest  # noqa: E402
from seeding.routes import MANIFEST_FILE, PRERENDER_DIR  # noqa: E402


def project_root(assets: Path, index: str, into: Path) -> Path:
    """A project root that runs this repository's Worker over `assets`: wrangler.toml
    with absolute paths and SEED_INDEX, python_modules linked, the assets hard-linked
    (Miniflare does not follow a symlinked directory; hard links cost no copy)."""
    config = tomllib.loads((ROOT / "wrangler.toml").read_text())
    vars_ = {**config.get("vars", {}), "SEED_INDEX": index}
    public = into / "public"
    shutil.copytree(assets, public, copy_function=os.link)
    lines = [
        f'name = "{config["name"]}-bench"',
        f'main = "{ROOT / config["main"]}"',
        f'compatibility_date = "{config["compatibility_date"]}"',
        f"compatibility_flags = {json.dumps(config['compatibility_flags'])}",
        "[assets]",
        *(f"{k} = {json.dumps(v)}" for k, v in config["assets"].items() if k != "directory"),
        'directory = "./public"',
        "[vars]",
        *(f"{k} = {json.dumps(str(v))}" for k, v in vars_.items()),
    ]
    (into / "wrangler.toml").write_text("\n".join(lines) + "\n")
    if (ROOT / "python_modules").exists():
        (into / "python_modules").symlink_to(ROOT / "python_modules")
    return into


class Runtime:
    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [
                "node",
                str(ROOT / "runtime/server.mjs"),
                "--root",
                str(root),
                "--port",
                "0",
                "--control-port",
                "0",
                "--exit-on-stdin-close",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("LOCAL_RUNTIME_READY "):
                ready = json.loads(line.split(" ", 1)[1])
                self.url = ready["url"].rstrip("/")
                self.control_url = ready["control"].rstrip("/")
                # Keep reading its output, or a full pipe stalls the runtime.
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise RuntimeError(f"the local runtime exited with {self.proc.wait()}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def _call(self, base: str, method: str, path: str) -> Any:
        request = urllib.request.Request(base + path, method=method)
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read()
            return response.status, dict(response.headers), body

    def control(self, method: str, path: str) -> Any:
        return json.loads(self._call(self.control_url, method, path)[2])

    def get(self, path: str) -> tuple[int, dict[str, str]]:
        status, headers, _ = self._call(self.url, "GET", path)
        return status, headers

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def measure(runtime: Runtime, routes: list[str], isolates: int) -> dict[str, Any]:
    first: list[float] = []
    later: list[float] = []
    fetches_first: list[int] = []
    fetches_later: list[int] = []
    statuses: dict[str, int] = {}
    per_isolate = max(1, len(routes) // isolates)
    for n in range(isolates):
        runtime.control("POST", "/restart")
        for k, route in enumerate(routes[n * per_isolate : (n + 1) * per_isolate]):
            runtime.control("DELETE", "/asset-log")
            runtime.control("DELETE", "/python-log")
            _, headers = runtime.get(route)
            label = headers.get("x-cache-status", "?")
            statuses[label] = statuses.get(label, 0) + 1
            requests = runtime.control("GET", "/python-log")["requests"]
            ms = float(requests[-1]["ms"])
            fetched = len(runtime.control("GET", "/asset-log"))
            (first if k == 0 else later).append(ms)
            (fetches_first if k == 0 else fetches_later).append(fetched)
    return {
        "first_request_ms": statistics.median(first),
        "cold_request_ms": statistics.median(later) if later else None,
        "fetches_first": statistics.mean(fetches_first),
        "fetches_cold": statistics.mean(fetches_later) if later else None,
        "cache_status": statuses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True, help="build dir (lists routes)")
    parser.add_argument(
        "--assets", type=Path, required=True, help=f"assets dir holding {PRERENDER_DIR}/"
    )
    parser.add_argument("--index", choices=("sharded", "manifest"), default="sharded")
    parser.add_argument("--samples", type=int, default=40, help="routes requested in all")
    parser.add_argument("--isolates", type=int, default=4, help="fresh isolates to spread them")
    args = parser.parse_args(argv)
    manifest = parse_manifest((args.build / MANIFEST_FILE).read_bytes())
    # Routes that never revalidate: the answer is a plain HIT, no regeneration queued.
    never = [p for p, r in manifest.routes.items() if r.seedable and r.revalidate is None]
    shuffled = sample_routes(manifest, args.samples * 3)
    routes = [r for r in shuffled if r in set(never)][: args.samples]
    with tempfile.TemporaryDirectory(prefix="bench-runtime-", dir=args.assets.parent) as tmp:
        started = time.monotonic()
        root = project_root(args.assets, args.index, Path(tmp))
        runtime = Runtime(root)
        try:
            print(f"runtime: ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
            result = measure(runtime, routes, args.isolates)
        finally:
            runtime.close()
    result.update(routes=len(manifest.routes), index=args.index, samples=len(routes))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

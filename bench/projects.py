"""Temporary projects for the local runtime: a snapshot of the sources a run serves, a
project root (wrangler.toml, src/, python_modules/, public/) per Worker measured, the
constant Workers the benchmarks compare against, and the example site's build.

A run serves one snapshot of `src/`, `scripts/`, `wrangler.toml` and `examples/`, taken
when it starts (`snapshot_sources`: the commit, or the working tree), so what others edit
during an hour-long run never reaches part of it. Builds run the snapshot's own build
code in a child Python (`PYTHONPATH` = the snapshot's src/, ahead of the installed
`seeding`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.machine import ROOT, SNAPSHOT_PATHS
from runtime.local_runtime import without_storage_bindings

# The snapshot in use; this repository until `snapshot_sources` is called.
SOURCE = ROOT
# Never copied into a project: the copy step writes the build module for each project.
_NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "prerender_build.py")


def _extract(ref: str, paths: Iterable[str], into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *paths], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def snapshot_sources(
    into: Path, ref: str | None = "HEAD", *, examples_ref: str | None = None
) -> Path:
    """Copy SNAPSHOT_PATHS as of git `ref` (None: the working tree) into `into`, and make
    every later project and build use them. `examples_ref`: take examples/ from that
    git ref instead (an example wired on another branch, read, not merged)."""
    global SOURCE
    into.mkdir(parents=True, exist_ok=True)
    if ref is not None:
        _extract(ref, SNAPSHOT_PATHS, into)
    else:
        for name in SNAPSHOT_PATHS:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, into / name, ignore=_NOT_COPIED)
            elif (ROOT / name).exists():
                shutil.copy2(ROOT / name, into / name)
    if examples_ref is not None:
        shutil.rmtree(into / "examples", ignore_errors=True)
        _extract(examples_ref, ["examples"], into)
    SOURCE = into
    return into


def source_dir() -> Path:
    """The Worker's src/ the benchmarks serve."""
    return SOURCE / "src"


def wrangler_toml_for(text: str, *, assets_dir: Path | None = None, **variables: str) -> str:
    """`text` (a wrangler.toml) with the [assets] directory made absolute (or pointed
    elsewhere) and [vars] values set; every other line kept as it is."""
    section = ""
    seen: set[str] = set()
    vars_end: int | None = None
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if section == "vars":
                vars_end = len(out)
            section = stripped.strip("[]").strip()
        key = stripped.split("=", 1)[0].strip() if "=" in stripped else ""
        if section == "assets" and key == "directory" and assets_dir is not None:
            line = f"directory = {json.dumps(str(assets_dir))}"
        elif section == "vars" and key in variables:
            line = f"{key} = {json.dumps(str(variables[key]))}"
            seen.add(key)
        out.append(line)
    if section == "vars":
        vars_end = len(out)
    added = [f"{k} = {json.dumps(str(v))}" for k, v in variables.items() if k not in seen]
    if added and vars_end is None:
        out += ["", "[vars]", *added]
    elif added:
        out[vars_end:vars_end] = added
    return "\n".join(out) + "\n"


def make_project(
    into: Path,
    *,
    src: Path,
    assets_dir: Path | None = None,
    build_module: Path | None = None,
    wrangler: Path | None = None,
    python_modules: Path | None = None,
    shared_tier: bool = False,
    **variables: str,
) -> Path:
    """A project root for the runtime: `wrangler` (default: the snapshot's wrangler.toml)
    with [assets] directory and [vars] set as asked, a copy of `src` (plus `build_module`,
    a copy step's prerender_build.py, when given), and `python_modules` (default: this
    repository's vendored SDK) linked in. Without `assets_dir`, `into/public` is used.
    The KV and D1 bindings are left out unless `shared_tier`: the benchmarks of the core
    measure pages that read no shared tier (issue 12), the shared tier has its own."""
    into.mkdir(parents=True, exist_ok=True)
    if assets_dir is None:
        assets_dir = into / "public"
        assets_dir.mkdir(exist_ok=True)
    config = (wrangler or SOURCE / "wrangler.toml").read_text()
    if shared_tier:
        shutil.copytree(SOURCE / "migrations", into / "migrations", dirs_exist_ok=True)
    else:
        config = without_storage_bindings(config)
    (into / "wrangler.toml").write_text(
        wrangler_toml_for(config, assets_dir=assets_dir.resolve(), **variables)
    )
    shutil.copytree(src, into / "src", ignore=_NOT_COPIED)
    if build_module is not None:
        shutil.copy2(build_module, into / "src" / build_module.name)
    modules = into / "python_modules"
    if not modules.exists():
        target = python_modules or ROOT / "python_modules"
        modules.symlink_to(target.resolve(), target_is_directory=True)
    return into


def write_worker(into: Path, source: str, **modules: str) -> Path:
    """A src/ folder holding `entry.py` = `source` and any other `name.py` modules."""
    into.mkdir(parents=True, exist_ok=True)
    (into / "entry.py").write_text(source)
    for name, text in modules.items():
        (into / f"{name}.py").write_text(text)
    return into


CONSTANT_ENTRY = '''"""The smallest Python Worker: a constant body (the benchmarks' baseline)."""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
'''

# The floor of a cold seed: the constant Worker plus one ASSETS fetch of the file the URL
# names under /__prerender/ (a route's pack), its body read as bytes, as the Worker reads it.
FLOOR_ENTRY = '''"""The constant Worker making one ASSETS fetch: the floor of a cold seed."""

from urllib.parse import urlsplit

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlsplit(str(request.url)).path
        response = await self.env.ASSETS.fetch("https://assets.invalid/__prerender" + path)
        body = await response.bytes()
        return Response("ok" if response.status == 200 and body else "missing")
'''

SAME_RESPONSE_ENTRY = '''"""A constant Worker answering a page's exact bytes and headers, made
into JS objects once at import: the least a Python Worker can spend on that payload."""

import js
from pyodide.ffi import to_js
from workers import WorkerEntrypoint

from constant_response import BODY, HEADERS, STATUS

_BODY = to_js(BODY)
_INIT = to_js(
    {"status": STATUS, "headers": list(HEADERS.items())}, dict_converter=js.Object.fromEntries
)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return js.Response.new(_BODY, _INIT)
'''

# Set by the transport, not by the Worker.
_TRANSPORT_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date"})


def same_response_src(into: Path, *, status: int, headers: dict[str, str], body: bytes) -> Path:
    """The src/ of a Worker that always answers `status`, `headers` and `body`."""
    kept = {k: v for k, v in headers.items() if k.lower() not in _TRANSPORT_HEADERS}
    return write_worker(
        into,
        SAME_RESPONSE_ENTRY,
        constant_response=f"STATUS = {status!r}\nHEADERS = {kept!r}\nBODY = {body!r}\n",
    )


def public_files(into: Path, source: Path | None = None) -> Path:
    """The example site's public files (not a __prerender copy) into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    for item in (source or ROOT / "public").iterdir():
        if item.name != "__prerender" and item.is_file():
            shutil.copy2(item, into / item.name)
    return into


def run_build_step(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> str:
    """Run the snapshot's build command line (`seeding.build.cli`: "prerender ..." or
    "copy ...") in a child Python that imports the snapshot's `seeding` (with `env` added
    to its environment); its output, or RuntimeError with it."""
    command, *rest = map(str, args)
    call = {"prerender": "prerender_main", "copy": "copy_main"}[command]
    code = (
        "import sys; from seeding.build.cli import prerender_main, copy_main; "
        f"sys.exit({call}(sys.argv[1:]"
        + (", default_site='app:SITE'" if command == "prerender" else "")
        + "))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *rest],
        cwd=cwd or SOURCE,
        env={**os.environ, "PYTHONPATH": str(SOURCE / "src"), **(env or {})},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{command} {' '.join(rest)} exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result.stdout


def example_build(build: Path, project: Path, *, built_at: float | None = None) -> None:
    """Prerender the example site into `build` (as of `built_at`, epoch seconds, when
    given: SOURCE_DATE_EPOCH), then copy it into the project's public/ and its build
    module into the project's src/."""
    epoch = {} if built_at is None else {"SOURCE_DATE_EPOCH": str(built_at)}
    run_build_step("prerender", "--out", build, env=epoch)
    run_build_step("copy", build, project / "public", "--worker-dir", project / "src")


def source_digest(paths: Iterable[Path]) -> str:
    """A short digest of files' names and contents: part of cache keys, so an artifact
    made by older code is not reused."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def cache_key(kind: str, params: dict[str, Any], sources: Iterable[Path]) -> str:
    """A directory name for a cached artifact: its kind, parameters and sources' digest."""
    parts = [kind, *(f"{k}{v}" for k, v in sorted(params.items())), source_digest(sources)]
    return "-".join(str(p).replace("/", "_").replace(" ", "") for p in parts)

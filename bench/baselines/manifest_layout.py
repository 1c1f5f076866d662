"""The single-manifest layout as a baseline: its copy step, its file count and a cold
seed of it in CPython.

The copy step is vinext's: the build directory as it is (`meta/manifest.json` plus one
file per route variant) becomes `<assets>/__prerender/`, here with hard links (no bytes
copied: 100,000 routes are over a gigabyte). Nothing checks the platform's limits, which
is the point: at 100,000 routes it is about 200,000 files (Paid plan: 100,000) and a
manifest over the 25 MiB a file may have. `worker_src` is the Worker that reads it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from bench.baselines.manifest_reader import PRERENDER_PREFIX, ManifestReader
from seeding.build.manifest import MANIFEST_FILE, PrerenderManifest
from seeding.routes import PRERENDER_DIR

HERE = Path(__file__).resolve().parent


def copy_manifest_layout(build: Path, assets: Path) -> Path:
    """`build` as `assets/__prerender/`, file for file (hard links)."""
    target = assets / PRERENDER_DIR
    shutil.rmtree(target, ignore_errors=True)
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copytree(build, target, copy_function=os.link)
    return target


def manifest_layout_files(manifest: PrerenderManifest) -> int:
    """Files the layout uploads: every variant's body, and the manifest."""
    return sum(1 for _ in manifest.files()) + 1


def worker_src(into: Path) -> Path:
    """The src/ of the baseline Worker: entry.py and its reader."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / "manifest_worker.py", into / "entry.py")
    shutil.copy2(HERE / "manifest_reader.py", into / "manifest_reader.py")
    return into


@dataclass(frozen=True)
class CpythonSeed:
    fetches: int
    bytes_fetched: int
    kept_bytes: int  # still allocated afterwards (tracemalloc): the index and the page
    ms: float


def cold_seed(build: Path, route: str) -> CpythonSeed:
    """The first request of a fresh isolate for `route`, in CPython, over the build
    directory on disk (the layout's exact bytes)."""

    async def fetch(path: str) -> tuple[int, bytes]:
        file = build / path.removeprefix(PRERENDER_PREFIX)
        return (200, file.read_bytes()) if file.is_file() else (404, b"")

    reader = ManifestReader()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        page = asyncio.run(reader.page(fetch, route))
        ms = (time.perf_counter() - started) * 1000
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    if page is None:
        raise ValueError(f"{build / MANIFEST_FILE} does not list {route}")
    return CpythonSeed(reader.fetches, reader.bytes_fetched, kept, ms)

"""c. Scale: a cold seed in a fresh isolate for synthetic sites of 1,000 to 100,000 routes.

For each site size and layout (sharded, the default; manifest, the baseline) a temporary
project runs this repository's Worker (a snapshot of src/, wrangler.toml copied with
SEED_INDEX set and [assets] directory pointing at the cached layout, bench/sites.py) on
its own local runtime. Each sample is the first request of a fresh isolate for one route
(spread over the site; only routes that never revalidate, so the answer is a plain HIT
with no regeneration: the synthetic routes are not the example app's, its renderer would
answer 404). Measured per sample: wall latency, workerd main-thread CPU, the asset fetches
(asset log) and their bytes (the sizes of the fetched files on disk), and workerd's RSS
after the request minus its RSS in the same fresh isolate just before it.

A layout whose largest file exceeds the 25 MiB asset limit cannot be served (Miniflare
refuses it as wrangler does): the manifest of 100,000 routes. It is reported as such, with
a CPython estimate from bench/scale.py (`cold_seed`, tracemalloc) for the record.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from bench.goals import FREE_FILES, PAID_FILES, files_goal, flat_goal
from bench.harness import (
    BenchRuntime,
    ColdRequest,
    cold_request,
    figure,
    log,
    make_project,
    percentile,
    python_heap,
    source_dir,
)
from bench.scale import cold_seed, layout_budget
from bench.sites import count_files, layout_method, synthetic_assets, synthetic_build
from bench.synthetic_site import SiteSpec, synthetic_manifest
from seeding.manifest import MAX_ASSET_BYTES, parse_manifest
from seeding.routes import MANIFEST_FILE, PRERENDER_DIR, PRERENDER_PREFIX

LAYOUTS = ("sharded", "manifest")


def never_revalidating(build: Path, count: int) -> list[str]:
    """`count` seedable routes that never revalidate, spread evenly over the site."""
    manifest = parse_manifest((build / MANIFEST_FILE).read_bytes())
    routes = [p for p, r in manifest.routes.items() if r.seedable and r.revalidate is None]
    step = max(1, len(routes) // max(count, 1))
    return routes[step // 2 :: step][:count]


def fetched_bytes(assets_dir: Path, fetches: list[dict[str, Any]]) -> int:
    """Bytes the asset fetches returned: the sizes on disk of the files they named
    (fetches that did not answer 200 returned no body the Worker kept)."""
    total = 0
    for fetch in fetches:
        path = fetch["path"]
        if fetch.get("status") == 200 and path.startswith(PRERENDER_PREFIX):
            total += (assets_dir / PRERENDER_DIR / path[len(PRERENDER_PREFIX) :]).stat().st_size
    return total


def largest_file(directory: Path) -> tuple[int, str]:
    size, name = 0, ""
    for dirpath, _, files in os.walk(directory):
        for file in files:
            n = os.stat(os.path.join(dirpath, file)).st_size
            if n > size:
                size, name = n, os.path.join(dirpath, file)
    return size, name


def run(work: Path, *, scales: list[int], isolates: int) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    for routes in scales:
        build = synthetic_build(routes)
        targets = never_revalidating(build, isolates)
        for layout in LAYOUTS:
            assets = synthetic_assets(routes, layout)
            cell: dict[str, Any] = {
                "routes": routes,
                "layout": layout,
                "files": count_files(assets / PRERENDER_DIR),
                "laid_out_by": layout_method(assets),
                "samples": [],
                "unservable": None,
            }
            size, name = largest_file(assets / PRERENDER_DIR)
            if size > MAX_ASSET_BYTES:
                cell["unservable"] = (
                    f"{Path(name).relative_to(assets).as_posix()} is {size / 2**20:.1f} MiB, over "
                    f"the {MAX_ASSET_BYTES // 2**20} MiB asset limit (Miniflare refuses to serve "
                    "it, wrangler to deploy it)"
                )
                cell["cpython"] = _cpython_estimate(build, targets[: min(3, len(targets))])
                log(f"c: {routes} routes {layout}: not servable: {cell['unservable']}")
                cells.append(cell)
                continue
            project = make_project(
                work / f"{layout}-{routes}", src=source_dir(), assets_dir=assets, SEED_INDEX=layout
            )
            with BenchRuntime(project, work / f"{layout}-{routes}.log") as runtime:
                # Python's heap in a fresh isolate that served nothing: the baseline.
                baseline = []
                for _ in range(2):
                    runtime.restart()
                    baseline.append(python_heap(runtime)["in_use"])
                cell["heap_baseline"] = percentile(baseline, 50)
                for n, route in enumerate(targets):
                    sample = cold_request(runtime, route, heap=True)
                    cell["samples"].append(_sample(sample, assets, cell["heap_baseline"]))
                    if sample.status != 200 or sample.cache_status != "HIT" or sample.errors:
                        cell.setdefault("problems", []).append(
                            f"{route}: {sample.status} {sample.cache_status} {sample.errors[:1]}"
                        )
                    log(
                        f"c: {routes} routes {layout} {n + 1}/{len(targets)}: {sample.status} "
                        f"{sample.cache_status} {sample.wall_ms:.0f} ms, "
                        f"{len(sample.assets)} fetches, {sample.rss_growth / 2**20:.2f} MiB"
                    )
            cells.append(cell)
    return summarize(cells, scales, isolates)


def _sample(sample: ColdRequest, assets: Path, heap_baseline: float) -> dict[str, Any]:
    heap = None if sample.heap_after is None else sample.heap_after - heap_baseline
    return {
        "heap_growth": heap,
        "path": sample.path,
        "status": sample.status,
        "cache": sample.cache_status,
        "wall_ms": round(sample.wall_ms, 3),
        "cpu_main_ms": round(sample.cpu_main_ms, 3),
        "fetches": len(sample.assets),
        "fetched": [f["path"] for f in sample.assets],
        "bytes": fetched_bytes(assets, sample.assets),
        "rss_before": sample.rss_before,
        "rss_growth": sample.rss_growth,
    }


def _cpython_estimate(build: Path, routes: list[str]) -> dict[str, Any]:
    seeds = [asyncio.run(cold_seed(build, r, "manifest", memory=True)) for r in routes]
    return {
        "runs": len(seeds),
        "bytes": percentile([s.bytes_fetched for s in seeds], 50) if seeds else None,
        "kept_bytes": percentile([s.kept_bytes for s in seeds], 50) if seeds else None,
        "ms": percentile([s.seconds * 1000 for s in seeds], 50) if seeds else None,
    }


def file_budgets() -> list[dict[str, Any]]:
    """Files per layout for 15,000 and 100,000 routes (both variants each), from the copy
    script's planner (`bench.scale.layout_budget`), against the plans' limits."""
    rows = []
    for routes, limit in ((15_000, FREE_FILES), (100_000, PAID_FILES)):
        manifest = synthetic_manifest(SiteSpec(routes))
        for layout in LAYOUTS:
            budget = layout_budget(manifest, layout, measure_manifest=False)
            rows.append({"routes": routes, "layout": layout, "files": budget.files, "limit": limit})
    return rows


def _medians(cell: dict[str, Any]) -> dict[str, float | None]:
    samples = cell["samples"]
    if not samples:
        return {}
    return {
        "latency ms": percentile([s["wall_ms"] for s in samples], 50),
        "bytes": percentile([s["bytes"] for s in samples], 50),
        "memory (RSS) B": percentile([s["rss_growth"] for s in samples], 50),
        "Python heap B": percentile([s["heap_growth"] for s in samples], 50),
    }


def summarize(cells: list[dict[str, Any]], scales: list[int], isolates: int) -> dict[str, Any]:
    figures = []
    for cell in cells:
        tag = f"{cell['layout']} {cell['routes']:,} routes"
        key = f"c.{cell['layout']}.{cell['routes']}"
        samples = cell["samples"]
        if cell["unservable"]:
            est = cell.get("cpython") or {}
            figures.append(
                {
                    **figure(f"{key}.unservable", f"{tag}: not servable", "", []),
                    "note": cell["unservable"],
                }
            )
            for name, unit, value in (
                ("bytes", "B", est.get("bytes")),
                ("kept_bytes", "B", est.get("kept_bytes")),
            ):
                if value is not None:
                    what = "bytes fetched" if name == "bytes" else "memory kept (tracemalloc)"
                    figures.append(
                        figure(
                            f"{key}.cpython.{name}",
                            f"{tag}: {what}, CPython estimate",
                            unit,
                            [value],
                            f"bench/scale.py cold_seed, median of {est.get('runs')}",
                        )
                    )
            continue
        figures += [
            figure(
                f"{key}.wall", f"{tag}: cold seed latency", "ms", [s["wall_ms"] for s in samples]
            ),
            figure(
                f"{key}.cpu",
                f"{tag}: cold seed CPU, isolate thread",
                "ms",
                [s["cpu_main_ms"] for s in samples],
            ),
            figure(f"{key}.bytes", f"{tag}: bytes fetched", "B", [s["bytes"] for s in samples]),
            figure(
                f"{key}.fetches", f"{tag}: asset fetches", "count", [s["fetches"] for s in samples]
            ),
            figure(
                f"{key}.memory",
                f"{tag}: isolate memory growth (RSS after - before)",
                "B",
                [s["rss_growth"] for s in samples],
            ),
            figure(
                f"{key}.heap",
                f"{tag}: Python heap growth (in use after - a fresh isolate's)",
                "B",
                [s["heap_growth"] for s in samples],
            ),
            figure(
                f"{key}.rss",
                f"{tag}: workerd RSS after the request",
                "B",
                [s["rss_before"] + s["rss_growth"] for s in samples],
            ),
        ]
    goals = []
    for layout, label in (
        ("sharded", "c: cold seed latency, bytes, memory within 1.2x, 1,000 -> 100,000 routes"),
        ("manifest", "c-baseline: the same for the manifest layout (expected to fail)"),
    ):
        mine = [c for c in cells if c["layout"] == layout]
        small = min(mine, key=lambda c: c["routes"], default=None)
        large = max(mine, key=lambda c: c["routes"], default=None)
        servable = [c for c in mine if not c["unservable"]]
        largest_servable = max(servable, key=lambda c: c["routes"], default=None)
        why = ""
        if large is not None and large["unservable"]:
            why = f"{large['routes']:,} routes cannot be served: {large['unservable']}"
        compared = large if large is not None and not large["unservable"] else largest_servable
        goal_id = "c" if layout == "sharded" else "c-baseline"
        if small is None or compared is None or compared is small:
            goals.append(
                flat_goal(goal_id, label, {}, {}, small_routes=0, large_routes=0, why_missing=why)
            )
            continue
        goals.append(
            flat_goal(
                goal_id,
                label,
                _medians(small),
                _medians(compared),
                small_routes=small["routes"],
                large_routes=compared["routes"],
                why_missing=why,
            )
        )
    budgets = file_budgets()
    goals.append(
        files_goal(
            "c-files",
            "c files: 15,000 routes in <= 20,000 files, 100,000 in <= 100,000 (sharded)",
            [b for b in budgets if b["layout"] == "sharded"],
        )
    )
    goals.append(
        files_goal(
            "c-files-baseline",
            "c files, manifest layout (baseline, expected to fail)",
            [b for b in budgets if b["layout"] == "manifest"],
        )
    )
    problems = [p for c in cells for p in c.get("problems", [])]
    return {
        "benchmark": "scale",
        "title": "c. Scale: cold seed of one route, synthetic sites",
        "params": {"scales": scales, "isolates_per_cell": isolates},
        "figures": figures,
        "goals": goals,
        "notes": [
            "Each sample: a fresh isolate (restart, Python loaded), one request for a route that "
            "never revalidates (HIT from the seed). Bytes fetched: sizes on disk of the files the "
            "asset log shows fetched (200). Memory: workerd's RSS (/proc/<pid>/status VmRSS) after "
            "the request (once idle) minus the same isolate's RSS just before it; RSS counts pages "
            "touched by the whole process (V8's heap, collected lazily, and Pyodide's wasm memory, "
            "which only grows), so it is page-granular and noisy. Python heap: bytes in use in "
            "Pyodide's malloc (mallinfo, read through the runtime's test-mode eval) after the "
            "request, minus the median of two fresh isolates that served nothing (read after the "
            "request, never before it: the eval would warm code paths the request runs first).",
            "Synthetic sites: bench/synthetic_site.py (HTML 5-15 KB, JSON 1-3 KB per route); "
            "layouts by scripts/copy_prerender.py, cached in bench/.cache/. File counts from the "
            "copy script's planner (bench/scale.py layout_budget).",
            "Files on disk per laid-out cell: "
            + "; ".join(
                f"{c['layout']} {c['routes']:,}: {c['files']:,} ({c['laid_out_by']})" for c in cells
            ),
        ],
        "problems": problems,
        "raw": {"cells": cells, "file_budgets": budgets},
    }

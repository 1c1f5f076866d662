"""c. Scale: a cold seed in a fresh isolate for synthetic sites of 1,000 to 100,000 routes,
the Worker's pack layout against the single-manifest baseline; unlisted paths; the cost
of the build identity (and its route filter) at import.

For each site size and layout a temporary project serves the synthetic site
(`bench.sites`): the snapshot's src/ with the layout's build module ("packs"), or the
baseline Worker (`bench.baselines`, "manifest"). Each sample is the first request of a
fresh isolate for a route that never revalidates (a plain HIT, no regeneration). Measured:
wall latency, workerd main-thread CPU, asset fetches and their bytes (the fetched files'
sizes on disk), Python's heap in use after the request minus a fresh isolate's, and RSS.

At the largest size the packs Worker also gets `unlisted` requests for paths the build
does not list (the renderer answers 404): the asset log counts those that fetched. The
build module's import is timed inside the isolate (CPU of an eval that imports and
validates it, minus the same eval without it). A baseline whose manifest exceeds the
25 MiB asset limit cannot be served (Miniflare refuses it, as wrangler does): it is
reported so, with a CPython estimate of its cold seed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.baselines import manifest_layout
from bench.goals import files_goal, flat_goal, unlisted_goal
from bench.load import run_load
from bench.local import BenchRuntime, MeasuredRequest, cold_request, eval_cpu_ms
from bench.machine import log
from bench.projects import make_project, source_dir
from bench.scale import (
    fetching_share,
    file_budgets,
    load_identity_module,
    parse_ms,
    unlisted_keys,
)
from bench.sites import LAYOUTS, LaidOut, count_files, synthetic_build, synthetic_layout
from bench.stats import figure, median
from seeding.build.manifest import MANIFEST_FILE, parse_manifest
from seeding.routes import PRERENDER_DIR, PRERENDER_PREFIX, Variant
from seeding.schema import MAX_ASSET_BYTES
from seeding.seed.packs import RouteDigest, pack_file

BYTES_ROUTES = 2_000  # routes whose cold-seed bytes are counted from the files on disk
IMPORT_IDENTITY = """
import sys
from app import SITE
from seeding.seed.build_identity import load_identity
sys.modules.pop("prerender_build", None)
load_identity(SITE.config) is not None
"""
IMPORT_NOTHING = """
import sys
from app import SITE
from seeding.seed.build_identity import load_identity
True
"""


def never_revalidating(build: Path, count: int) -> list[str]:
    """`count` seedable routes that never revalidate, spread evenly over the site."""
    manifest = parse_manifest((build / MANIFEST_FILE).read_bytes())
    routes = [r.path for r in manifest.seedable() if r.revalidate is None]
    step = max(1, len(routes) // max(count, 1))
    return routes[step // 2 :: step][:count]


def fetched_bytes(assets: Path, fetches: list[dict[str, Any]]) -> int:
    """Bytes the asset fetches returned: the sizes on disk of the files they named."""
    return sum(
        (assets / PRERENDER_DIR / f["path"][len(PRERENDER_PREFIX) :]).stat().st_size
        for f in fetches
        if f.get("status") == 200 and f["path"].startswith(PRERENDER_PREFIX)
    )


def largest_file(directory: Path) -> tuple[int, Path]:
    size, name = 0, directory
    for dirpath, _, files in os.walk(directory):
        for file in files:
            n = os.stat(os.path.join(dirpath, file)).st_size
            if n > size:
                size, name = n, Path(dirpath) / file
    return size, name


def bytes_per_seed(laid: LaidOut, build: Path, routes: list[str]) -> list[int]:
    """What a cold seed of each route fetches, from the files on disk: its pack (packs),
    or the manifest plus its HTML file (the baseline). The runtime samples show which
    files a seed fetches; this counts their bytes over many more routes, since a pack's
    size varies with how many routes share its bucket."""
    if laid.layout == "manifest":
        manifest = parse_manifest((build / MANIFEST_FILE).read_bytes())
        whole = (build / MANIFEST_FILE).stat().st_size
        return [whole + manifest.routes[r].variants[Variant.HTML].bytes for r in routes]
    assert laid.build_module is not None
    identity = load_identity_module(laid.build_module)
    packs = laid.assets / PRERENDER_DIR
    return [
        (packs / pack_file(RouteDigest.of(r).bucket(identity.buckets))).stat().st_size
        for r in routes
    ]


def _project(work: Path, laid: LaidOut) -> Path:
    name = f"{laid.layout}-{laid.routes}"
    if laid.layout == "manifest":
        src = manifest_layout.worker_src(work / f"{name}-src")
        return make_project(work / name, src=src, assets_dir=laid.assets)
    return make_project(
        work / name, src=source_dir(), assets_dir=laid.assets, build_module=laid.build_module
    )


def _sample(sample: MeasuredRequest, assets: Path, heap_baseline: float) -> dict[str, Any]:
    return {
        "path": sample.path,
        "status": sample.status,
        "cache": sample.cache_status,
        "wall_ms": round(sample.wall_ms, 3),
        "cpu_main_ms": round(sample.cpu_main_ms, 3),
        "fetches": len(sample.assets),
        "bytes": fetched_bytes(assets, sample.assets),
        "heap_growth": None if sample.heap_after is None else sample.heap_after - heap_baseline,
        "rss_growth": sample.rss_growth,
    }


def _serve(runtime: BenchRuntime, laid: LaidOut, targets: list[str]) -> dict[str, Any]:
    baseline = []
    for _ in range(2):  # Python's heap in a fresh isolate that served nothing
        runtime.restart()
        baseline.append(runtime.python_heap()["in_use"])
    heap_baseline = median(baseline) or 0.0
    samples, problems = [], []
    for n, route in enumerate(targets):
        sample = cold_request(runtime, route, heap=True)
        samples.append(_sample(sample, laid.assets, heap_baseline))
        if sample.status != 200 or sample.cache_status != "HIT" or sample.errors:
            problems.append(f"{route}: {sample.status} {sample.cache_status} {sample.errors[:1]}")
        log(
            f"c: {laid.routes:,} routes {laid.layout} {n + 1}/{len(targets)}: "
            f"{sample.status} {sample.cache_status} {sample.wall_ms:.0f} ms, "
            f"{len(sample.assets)} fetches"
        )
    return {"samples": samples, "problems": problems, "heap_baseline": heap_baseline}


def _unlisted(runtime: BenchRuntime, laid: LaidOut, paths: int) -> dict[str, Any]:
    """Unlisted paths in one isolate: how many made a fetch; and the build module's
    import cost in the isolate, and in CPython over many more paths."""
    assert laid.build_module is not None
    runtime.restart()
    keys = unlisted_keys(paths)
    result = run_load(runtime.url, keys, concurrency=4)
    fetched = len(runtime.control.asset_log())
    import_ms = [
        eval_cpu_ms(runtime, IMPORT_IDENTITY) - eval_cpu_ms(runtime, IMPORT_NOTHING)
        for _ in range(5)
    ]
    identity = load_identity_module(laid.build_module)
    return {
        "paths": len(keys),
        "answered": dict(result.statuses),
        "fetched": fetched,
        "cpython_paths": 100_000,
        "cpython_share": fetching_share(identity, unlisted_keys(100_000, seed=11)),
        "module_bytes": laid.build_module.stat().st_size,
        "filter_bytes": len(identity.filter.data),
        "import_ms": import_ms,
        "cpython_parse_ms": parse_ms(laid.build_module),
    }


def run(work: Path, *, scales: list[int], isolates: int, unlisted: int) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    largest = max(scales)
    for routes in scales:
        build = synthetic_build(routes)
        targets = never_revalidating(build, isolates)
        spread = never_revalidating(build, BYTES_ROUTES)
        for layout in LAYOUTS:
            laid = synthetic_layout(routes, layout)
            cell: dict[str, Any] = {
                "routes": routes,
                "layout": layout,
                "files": count_files(laid.assets / PRERENDER_DIR),
                "samples": [],
                "unservable": None,
                "seed_bytes": bytes_per_seed(laid, build, spread),
            }
            size, name = largest_file(laid.assets / PRERENDER_DIR)
            if size > MAX_ASSET_BYTES:
                cell["unservable"] = (
                    f"{name.relative_to(laid.assets).as_posix()} is {size / 2**20:.1f} MiB, over "
                    f"the {MAX_ASSET_BYTES // 2**20} MiB asset limit (Miniflare refuses to serve "
                    "it, wrangler to deploy it)"
                )
                seeds = [manifest_layout.cold_seed(build, r) for r in targets[:3]]
                cell["cpython"] = {
                    "bytes": median([s.bytes_fetched for s in seeds]),
                    "kept_bytes": median([s.kept_bytes for s in seeds]),
                    "runs": len(seeds),
                }
                log(f"c: {routes:,} routes {layout}: not servable: {cell['unservable']}")
                cells.append(cell)
                continue
            with BenchRuntime(_project(work, laid), work / f"{layout}-{routes}.log") as runtime:
                cell.update(_serve(runtime, laid, targets))
                if layout == "packs" and routes == largest and unlisted:
                    cell["unlisted"] = _unlisted(runtime, laid, unlisted)
            cells.append(cell)
    return summarize(cells, scales, isolates)


def _medians(cell: dict[str, Any]) -> dict[str, float | None]:
    samples = cell["samples"]
    return {
        "latency ms": median([s["wall_ms"] for s in samples]),
        "bytes": median(cell["seed_bytes"]),
        "Python heap B": median([s["heap_growth"] for s in samples]),
    }


def _cell_figures(cell: dict[str, Any]) -> list[dict[str, Any]]:
    tag = f"{cell['layout']} {cell['routes']:,} routes"
    key = f"c.{cell['layout']}.{cell['routes']}"
    if cell["unservable"]:
        est = cell["cpython"]
        return [
            figure(f"{key}.unservable", f"{tag}: not servable", "", [], cell["unservable"]),
            figure(f"{key}.cpython.bytes", f"{tag}: bytes fetched, CPython", "B", [est["bytes"]]),
            figure(
                f"{key}.cpython.kept",
                f"{tag}: memory kept (tracemalloc), CPython",
                "B",
                [est["kept_bytes"]],
            ),
        ]
    s = cell["samples"]
    return [
        figure(f"{key}.wall", f"{tag}: cold seed latency", "ms", [x["wall_ms"] for x in s]),
        figure(f"{key}.cpu", f"{tag}: CPU, isolate thread", "ms", [x["cpu_main_ms"] for x in s]),
        figure(f"{key}.fetches", f"{tag}: asset fetches", "count", [x["fetches"] for x in s]),
        figure(f"{key}.bytes", f"{tag}: bytes fetched", "B", [x["bytes"] for x in s]),
        figure(
            f"{key}.seed_bytes",
            f"{tag}: bytes a cold seed fetches, {len(cell['seed_bytes']):,} routes",
            "B",
            cell["seed_bytes"],
            "from the files on disk",
        ),
        figure(f"{key}.heap", f"{tag}: Python heap growth", "B", [x["heap_growth"] for x in s]),
        figure(f"{key}.rss", f"{tag}: workerd RSS growth", "B", [x["rss_growth"] for x in s]),
    ]


def _flat(cells: list[dict[str, Any]], layout: str, goal_id: str, label: str) -> dict[str, str]:
    mine = [c for c in cells if c["layout"] == layout]
    servable = [c for c in mine if not c["unservable"]]
    if not mine or not servable:
        return flat_goal(goal_id, label, {}, {}, small_routes=0, large_routes=0)
    small = min(mine, key=lambda c: c["routes"])
    large = max(mine, key=lambda c: c["routes"])
    why = (
        f"{large['routes']:,} routes cannot be served: {large['unservable']}"
        if (large["unservable"])
        else ""
    )
    compared = max(servable, key=lambda c: c["routes"])
    if compared is small:
        return flat_goal(goal_id, label, {}, {}, small_routes=0, large_routes=0, why_missing=why)
    return flat_goal(
        goal_id,
        label,
        _medians(small),
        _medians(compared),
        small_routes=small["routes"],
        large_routes=compared["routes"],
        fetch_counts=[s["fetches"] for c in servable for s in c["samples"]]
        if layout == "packs"
        else None,
        why_missing=why,
    )


def summarize(cells: list[dict[str, Any]], scales: list[int], isolates: int) -> dict[str, Any]:
    figures = [f for cell in cells for f in _cell_figures(cell)]
    budgets = [b.__dict__ for b in file_budgets([15_000, 100_000])]
    goals = [
        _flat(
            cells, "packs", "c", "c: cold seed flat within 1.2x, 1,000 -> 100,000 routes, 1 fetch"
        ),
        _flat(
            cells,
            "manifest",
            "c-baseline",
            "c-baseline (information): the same for the single-manifest layout",
        ),
        files_goal(
            "c-files",
            "c files: 15,000 routes within the Free plan (20,000), 100,000 within Paid (100,000)",
            [b for b in budgets if b["layout"] == "packs"],
        ),
        files_goal(
            "c-files-baseline",
            "c files, single-manifest layout (information)",
            [b for b in budgets if b["layout"] == "manifest"],
        ),
    ]
    unlisted = next((c["unlisted"] for c in cells if c.get("unlisted")), None)
    if unlisted:
        routes = max(c["routes"] for c in cells if c.get("unlisted"))
        figures += [
            figure(
                "c.unlisted.import_ms",
                "build module import + validation, in the isolate",
                "ms",
                unlisted["import_ms"],
                f"{routes:,} routes; CPU of an eval, minus the same without it",
            ),
            figure(
                "c.unlisted.module",
                "build module (prerender_build.py)",
                "B",
                [unlisted["module_bytes"]],
                f"{routes:,} routes",
            ),
            figure(
                "c.unlisted.filter",
                "route filter held in memory",
                "B",
                [unlisted["filter_bytes"]],
                f"{routes:,} routes",
            ),
        ]
        import_ms = median(unlisted["import_ms"]) or 0.0
        cost = (
            f"CPython over {unlisted['cpython_paths']:,} more: "
            f"{1 - unlisted['cpython_share']:.2%} no fetch; filter {unlisted['filter_bytes']:,} B, "
            f"module {unlisted['module_bytes']:,} B, import {import_ms:.1f} "
            f"ms CPU in the isolate ({unlisted['cpython_parse_ms']:.1f} ms in CPython)"
        )
        goals.append(
            unlisted_goal(
                "unlisted paths: no fetch in at least 99% of cases (filter cost stated)",
                unlisted["fetched"],
                unlisted["paths"],
                routes,
                cost,
            )
        )
    else:
        goals.append(unlisted_goal("unlisted paths: no fetch in at least 99% of cases", 0, 0, 0))
    return {
        "benchmark": "scale",
        "title": "c. Scale: cold seed of one route, synthetic sites",
        "params": {"scales": scales, "isolates_per_cell": isolates},
        "figures": figures,
        "goals": goals,
        "notes": [
            "Each sample: a fresh isolate (restart, Python loaded), one request for a route that "
            "never revalidates (HIT from the seed). Bytes: sizes on disk of the files the asset "
            "log shows fetched; the goal takes the bytes of the same files for "
            f"{BYTES_ROUTES:,} routes spread over the site (a pack holds its bucket's routes, "
            "1 + Poisson(2) of them for a given route, so a handful of samples says little). "
            "Python heap: bytes in use in Pyodide's malloc (mallinfo, through "
            "the runtime's eval) after the request, minus the median of two fresh isolates that "
            "served nothing. RSS is the whole process, page-granular: for information.",
            "Synthetic sites: bench/synthetic_site.py (HTML 5-15 KB, JSON 1-3 KB per route), "
            "laid out by the snapshot's copy step (packs) or hard-linked as they are (the "
            "single-manifest baseline, bench/baselines/), cached in bench/.cache/. Files on "
            "disk: "
            + "; ".join(f"{c['layout']} {c['routes']:,}: {c['files']:,}" for c in cells)
            + ". File budgets for 15,000 and 100,000 routes from each layout's planner.",
        ],
        "problems": [p for c in cells for p in c.get("problems", [])],
        "raw": {"cells": cells, "file_budgets": budgets},
    }

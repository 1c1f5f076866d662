"""e. Concurrency: 100 concurrent cold requests for one route in a fresh isolate.

The example site (a snapshot of src/, its own build, this repository's wrangler.toml),
in each layout (sharded, the default; manifest, SEED_INDEX="manifest"), on its own local
runtime. Per burst: restart (a fresh isolate, Python loaded), wait until workerd is idle,
open 100 connections, release 100 GETs for one blog post together (a barrier), then count
the asset fetches per file in the asset log. Single flight means exactly one fetch per
file (sharded: build.json, the index shard, the pack; manifest: the manifest, the route
file) however many requests wait on it.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.cold_render import blog_posts
from bench.goals import single_fetch_goal
from bench.harness import (
    BenchRuntime,
    concurrent_gets,
    example_build,
    figure,
    log,
    make_project,
    public_files,
    source_dir,
    wait_idle,
)

LAYOUTS = ("sharded", "manifest")


def run(work: Path, *, bursts: int, clients: int = 100) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for layout in LAYOUTS:
        project = make_project(work / layout, src=source_dir(), SEED_INDEX=layout)
        public_files(project / "public")
        example_build(work / f"{layout}-build", project / "public", layout)
        posts = blog_posts(work / f"{layout}-build")
        with BenchRuntime(project, work / f"{layout}.log") as runtime:
            for n in range(bursts):
                post = posts[n % len(posts)]
                runtime.restart()
                wait_idle(runtime.workerd_pid())
                started = time.perf_counter()
                statuses = concurrent_gets(runtime.url, post, clients)
                wall_ms = (time.perf_counter() - started) * 1000
                fetches = runtime.asset_log()
                counts = Counter(f["path"] for f in fetches)
                errors = runtime.python_log().get("errors", [])
                rows.append(
                    {
                        "layout": layout,
                        "path": post,
                        "statuses": {str(k): v for k, v in Counter(statuses).items()},
                        "fetches_per_file": dict(counts),
                        "fetch_statuses": [f["status"] for f in fetches],
                        "wall_ms": round(wall_ms, 1),
                        "python_errors": len(errors),
                    }
                )
                log(
                    f"e: {layout} burst {n + 1}/{bursts}: {dict(Counter(statuses))}, "
                    f"fetches {dict(counts)}, {wall_ms:.0f} ms"
                )
    return summarize(rows, bursts, clients)


def summarize(rows: list[dict[str, Any]], bursts: int, clients: int) -> dict[str, Any]:
    figures = []
    for layout in LAYOUTS:
        mine = [r for r in rows if r["layout"] == layout]
        figures += [
            figure(
                f"e.{layout}.max_fetches",
                f"{layout}: fetches of the most-fetched file, per burst",
                "count",
                [max(r["fetches_per_file"].values(), default=0) for r in mine],
            ),
            figure(
                f"e.{layout}.files",
                f"{layout}: files fetched per burst",
                "count",
                [len(r["fetches_per_file"]) for r in mine],
            ),
            figure(
                f"e.{layout}.wall",
                f"{layout}: burst of {clients} requests, until the last answer",
                "ms",
                [r["wall_ms"] for r in mine],
            ),
        ]
    problems = [
        f"{r['layout']} {r['path']}: {r['python_errors']} Python errors"
        for r in rows
        if r["python_errors"]
    ]
    return {
        "benchmark": "concurrency",
        "title": f"e. Concurrency: {clients} concurrent cold requests for one route",
        "params": {"bursts_per_layout": bursts, "clients": clients},
        "figures": figures,
        "goals": [single_fetch_goal(rows)],
        "notes": [
            f"Per burst: a fresh isolate, {clients} connections opened first, then {clients} GETs "
            "of one blog post released together; fetches counted per file from the asset log."
        ],
        "problems": problems,
        "raw": {"bursts": rows},
    }

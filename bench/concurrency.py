"""e. Concurrency: 100 concurrent cold requests for one route in a fresh isolate.

The example site (the snapshot's src/ and its own build) on its own local runtime. Per
burst: restart (a fresh isolate, Python loaded), wait until workerd is idle, open 100
connections, release 100 GETs for one blog post together (a barrier), then count the
asset fetches per file in the asset log. Single flight means exactly one fetch per file
(the route's pack) however many requests wait on it.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.cold_seed import blog_posts
from bench.goals import single_fetch_goal
from bench.load import concurrent_gets
from bench.local import BenchRuntime
from bench.machine import log
from bench.procfs import wait_idle
from bench.projects import example_build, make_project, public_files, source_dir
from bench.stats import figure


def run(work: Path, *, bursts: int, clients: int = 100) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    project = make_project(work / "site", src=source_dir())
    public_files(project / "public")
    example_build(work / "site-build", project)
    posts = blog_posts(work / "site-build")
    with BenchRuntime(project, work / "site.log") as runtime:
        for n in range(bursts):
            post = posts[n % len(posts)]
            runtime.restart()
            wait_idle(runtime.workerd_pid())
            started = time.perf_counter()
            statuses = concurrent_gets(runtime.url, post, clients)
            wall_ms = (time.perf_counter() - started) * 1000
            fetches = runtime.control.asset_log()
            counts = Counter(f["path"] for f in fetches)
            errors = runtime.control.python_log().get("errors", [])
            rows.append(
                {
                    "path": post,
                    "statuses": {str(k): v for k, v in Counter(statuses).items()},
                    "fetches_per_file": dict(counts),
                    "wall_ms": round(wall_ms, 1),
                    "python_errors": len(errors),
                }
            )
            log(f"e: burst {n + 1}/{bursts}: {dict(Counter(statuses))}, fetches {dict(counts)}")
    return summarize(rows, bursts, clients)


def summarize(rows: list[dict[str, Any]], bursts: int, clients: int) -> dict[str, Any]:
    return {
        "benchmark": "concurrency",
        "title": f"e. Concurrency: {clients} concurrent cold requests for one route",
        "params": {"bursts": bursts, "clients": clients},
        "figures": [
            figure(
                "e.max_fetches",
                "fetches of the most-fetched file, per burst",
                "count",
                [max(r["fetches_per_file"].values(), default=0) for r in rows],
            ),
            figure(
                "e.wall",
                f"burst of {clients} requests, until the last answer",
                "ms",
                [r["wall_ms"] for r in rows],
            ),
        ],
        "goals": [single_fetch_goal(rows)],
        "notes": [
            f"Per burst: a fresh isolate, {clients} connections opened first, then {clients} GETs "
            "of one blog post released together; fetches counted per file from the asset log."
        ],
        "problems": [
            f"{r['path']}: {r['python_errors']} Python errors" for r in rows if r["python_errors"]
        ],
        "raw": {"bursts": rows},
    }

"""The shared tier (issue 11): renders per revalidate window across isolates, and the KV
and D1 calls requests make, read from the runtime's binding log.

Skipped (goals N/A) while the snapshot's wrangler.toml binds no KV namespace and no D1
database: without them the Worker behaves exactly as without a shared tier. With them,
the project's D1 migrations are applied to a temporary --persist-to, and for 1, 2 and 4
isolates (`--isolates N`, one runtime each, sharing that KV and D1):

    steady traffic on PAGE (revalidate 2 s) through every isolate for `seconds`: renders
    per window = (regenerations logged by the isolates + MISS answers) / (seconds / 2)
    memory hits on HIT_PAGE (prerendered, never revalidates) once warm: binding calls
    D1 calls per request over the steady traffic

Pending (the lead wires the tier into the request flow): a cold ISR request on a build
older than its window, with KV hit and miss and without KV.
"""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path
from typing import Any

from bench import projects
from bench.goals import NA, goal, renders_per_window_goal
from bench.load import LoadResult, run_load
from bench.local import BenchRuntime
from bench.machine import log
from bench.projects import example_build, make_project, public_files, source_dir
from bench.stats import figure
from runtime.local_runtime import apply_d1_migrations

PAGE = "/pulse"  # on-demand, revalidate 2 s (app.routing)
WINDOW_S = 2.0
HIT_PAGE = "/about"
ISOLATE_COUNTS = (1, 2, 4)


def bindings(wrangler: Path) -> dict[str, list[str]]:
    """The KV and D1 binding names a wrangler.toml declares."""
    config = tomllib.loads(wrangler.read_text())
    return {
        "kv": [k["binding"] for k in config.get("kv_namespaces", [])],
        "d1": [d["binding"] for d in config.get("d1_databases", [])],
    }


def renders(runtime: BenchRuntime, loads: list[LoadResult]) -> int:
    """Renders of PAGE: the regenerations the isolates logged, and the MISS answers."""
    lines = [o.get("line", "") for o in runtime.control.python_log().get("output", [])]
    regenerated = sum(1 for line in lines if "regenerated" in line and PAGE in line)
    return regenerated + sum(r.cache_statuses.get("MISS", 0) for r in loads)


def _steady(runtime: BenchRuntime, seconds: float) -> list[LoadResult]:
    loads: list[LoadResult] = []
    lock = threading.Lock()

    def drive(url: str) -> None:
        result = run_load(url, [PAGE], concurrency=2, total=10**6, max_seconds=seconds)
        with lock:
            loads.append(result)

    threads = [threading.Thread(target=drive, args=(url,)) for url in runtime.process.urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return loads


def run(work: Path, *, seconds: float) -> dict[str, Any]:
    wrangler = projects.SOURCE / "wrangler.toml"
    bound = bindings(wrangler)
    if not bound["kv"] and not bound["d1"]:
        reason = f"skipped: {wrangler.name} binds no KV namespace and no D1 database"
        return {
            "benchmark": "shared",
            "title": "Shared tier: KV and D1 (issue 11)",
            "figures": [],
            "goals": [
                goal(
                    f"shared-{n}",
                    f"shared-{n}: renders per window, {n} isolate(s), <= 1.1",
                    NA,
                    reason,
                )
                for n in ISOLATE_COUNTS
            ],
            "notes": [reason + "; the Worker then behaves exactly as without a shared tier."],
            "problems": [],
        }
    project = make_project(work / "site", src=source_dir())
    public_files(project / "public")
    example_build(work / "build", project)
    figures, goals, problems = [], [], []
    for count in ISOLATE_COUNTS:
        state = work / f"state-{count}"
        apply_d1_migrations(project, persist_to=state)
        with BenchRuntime(
            project, work / f"shared-{count}.log", isolates=count, persist_to=state
        ) as runtime:
            for url in runtime.process.urls:  # warm HIT_PAGE in every isolate
                run_load(url, [HIT_PAGE], concurrency=1, total=2)
            runtime.control.reset_binding_log()
            for url in runtime.process.urls:
                run_load(url, [HIT_PAGE], concurrency=1, total=50)
            hit_calls = len(runtime.control.binding_log())
            runtime.control.reset_binding_log()
            runtime.control.reset_python_log()
            loads = _steady(runtime, seconds)
            calls = runtime.control.binding_log()
            rendered = renders(runtime, loads)
        sent = sum(r.requests for r in loads)
        d1 = sum(1 for c in calls if c.get("binding") in bound["d1"])
        figures += [
            figure(
                f"shared.{count}.renders",
                f"{count} isolate(s): renders of {PAGE}",
                "count",
                [rendered],
                f"over {seconds:.0f} s, {sent:,} requests",
            ),
            figure(
                f"shared.{count}.d1",
                f"{count} isolate(s): D1 calls per request",
                "count",
                [d1 / sent] if sent else [],
            ),
            figure(
                f"shared.{count}.hit_calls",
                f"{count} isolate(s): binding calls on 50 memory hits per isolate",
                "count",
                [hit_calls],
            ),
        ]
        goals.append(
            renders_per_window_goal(f"shared-{count}", count, rendered, seconds / WINDOW_S)
        )
        if hit_calls:
            problems.append(f"{count} isolate(s): {hit_calls} binding calls on memory hits")
        log(f"shared: {count} isolate(s): {rendered} renders, {d1} D1 calls, {sent} requests")
    return {
        "benchmark": "shared",
        "title": "Shared tier: KV and D1 (issue 11)",
        "params": {"seconds": seconds, "page": PAGE, "isolates": list(ISOLATE_COUNTS)},
        "figures": figures,
        "goals": goals,
        "notes": [
            f"Steady traffic on {PAGE} (revalidate {WINDOW_S:.0f} s) from 2 connections per "
            "isolate; renders counted from the isolates' log lines ('regenerated') and MISS "
            "answers; binding calls from the runtime's binding log."
        ],
        "problems": problems,
    }

"""The shared tier (issue 11), on the project's own wrangler.toml bindings (KV `PAGES`,
D1 `CACHE_DB`), its D1 migrations applied to a temporary --persist-to:

- renders per revalidate window: for 1, 2 and 4 isolates (`--isolates N`, one runtime
  each), every isolate first holds PAGE (revalidate 2 s); then steady traffic through
  every isolate for `seconds`; renders = the isolates' "regenerated" log lines plus MISS
  answers, per window of 2 s;
- binding calls: on memory hits of a page that never revalidates (none expected on the
  request path; background refreshes of the revalidation times counted apart), and D1
  calls per request over the steady traffic (at most one per TAG_CACHE_SECONDS per
  isolate expected);
- a cold ISR request (a blog post, revalidate 60 s) on a build an hour old, in a fresh
  isolate: without KV (bindings left out), with a KV miss (storage emptied first), with a
  KV hit (another isolate regenerated the page first): latency, Python CPU, asset
  fetches and binding calls.

Skipped (goals N/A) when the snapshot's wrangler.toml binds neither KV nor D1.
"""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from bench import projects
from bench.cold_seed import blog_posts
from bench.goals import (
    NA,
    d1_reads_goal,
    goal,
    memory_hits_goal,
    renders_per_window_goal,
)
from bench.load import LoadResult, run_load
from bench.local import BenchRuntime, MeasuredRequest, cold_request
from bench.machine import log
from bench.projects import example_build, make_project, public_files, source_dir
from bench.stats import figure
from runtime.local_runtime import apply_d1_migrations

PAGE = "/pulse"  # on-demand, revalidate 2 s (app.routing)
WINDOW_S = 2.0
HIT_PAGE = "/about"  # prerendered, never revalidates
ISOLATE_COUNTS = (1, 2, 4)
OLD_BUILD_S = 3600.0  # the cold ISR build's age: far past its 60 s window
TAG_CACHE_S = 5.0  # wrangler.toml [vars] TAG_CACHE_SECONDS


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
    regenerated = sum(1 for line in lines if "regenerated" in line and line.endswith(PAGE))
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


def _skipped(reason: str) -> dict[str, Any]:
    return {
        "benchmark": "shared",
        "title": "Shared tier: KV and D1 (issue 11)",
        "figures": [],
        "goals": [
            goal(
                f"shared-{n}", f"shared-{n}: renders per window, {n} isolate(s), <= 1.1", NA, reason
            )
            for n in ISOLATE_COUNTS
        ],
        "notes": [reason + "; the Worker then behaves exactly as without a shared tier."],
        "problems": [],
    }


def windows(work: Path, project: Path, count: int, seconds: float) -> dict[str, Any]:
    """Renders and binding calls with `count` isolates (see the module docstring)."""
    state = work / f"state-{count}"
    apply_d1_migrations(project, persist_to=state)
    with BenchRuntime(
        project, work / f"shared-{count}.log", isolates=count, persist_to=state
    ) as runtime:
        for url in runtime.process.urls:  # every isolate holds both pages
            run_load(url, [HIT_PAGE, PAGE], concurrency=1, total=2)
            time.sleep(0.2)
        runtime.control.reset_binding_log()
        for url in runtime.process.urls:
            run_load(url, [HIT_PAGE], concurrency=1, total=50)
        hits = runtime.control.binding_log()
        runtime.control.reset_binding_log()
        runtime.control.reset_python_log()
        loads = _steady(runtime, seconds)
        calls = runtime.control.binding_log()
        rendered = renders(runtime, loads)
    return {
        "renders": rendered,
        "sent": sum(r.requests for r in loads),
        "d1_reads": sum(1 for c in calls if c.get("op") == "all"),  # revalidation times
        "d1": sum(1 for c in calls if c.get("op") in ("all", "run", "first", "batch")),
        "kv": sum(1 for c in calls if c.get("op") in ("get", "put")),
        # Every call on the hits is a background refresh of the revalidation times
        # (D1 "all"), at most one per isolate per TAG_CACHE_SECONDS; never KV.
        "hit_kv": sum(1 for c in hits if c.get("op") in ("get", "put")),
        "hit_d1": sum(1 for c in hits if c.get("op") == "all"),
    }


Cold = list[tuple[MeasuredRequest, list[dict[str, Any]]]]


def cold_isr(work: Path, post: str, *, samples: int) -> dict[str, Cold]:
    """The first request for `post` in a fresh isolate, on a build OLD_BUILD_S old: each
    measured request with the KV and D1 calls it made."""
    measured: dict[str, Cold] = {}
    built_at = time.time() - OLD_BUILD_S
    for case, shared in (("without KV", False), ("KV miss", True), ("KV hit", True)):
        project = make_project(
            work / f"cold-{case.replace(' ', '-')}", src=source_dir(), shared_tier=shared
        )
        public_files(project / "public")
        example_build(work / f"build-{case.replace(' ', '-')}", project, built_at=built_at)
        state = work / f"cold-state-{case.replace(' ', '-')}"
        if shared:
            apply_d1_migrations(project, persist_to=state)
        with BenchRuntime(
            project, work / f"cold-{case}.log", persist_to=state if shared else None
        ) as runtime:
            if case == "KV hit":  # another isolate regenerates it: KV holds a fresh copy
                runtime.get(post)
                deadline = time.monotonic() + 30
                while "request" not in runtime.get(post).text and time.monotonic() < deadline:
                    time.sleep(0.2)
            rows: Cold = []
            for _ in range(samples):
                if case == "KV miss":
                    runtime.control.reset_storage()
                runtime.control.reset_binding_log()
                sample = cold_request(runtime, post)
                rows.append((sample, runtime.control.binding_log()))
            measured[case] = rows
    return measured


def run(work: Path, *, seconds: float, samples: int = 8) -> dict[str, Any]:
    wrangler = projects.SOURCE / "wrangler.toml"
    bound = bindings(wrangler)
    if not bound["kv"] and not bound["d1"]:
        return _skipped(f"skipped: {wrangler.name} binds no KV namespace and no D1 database")
    project = make_project(work / "site", src=source_dir(), shared_tier=True)
    public_files(project / "public")
    example_build(work / "build", project)
    figures: list[dict[str, Any]] = []
    goals: list[dict[str, str]] = []
    problems: list[str] = []
    for count in ISOLATE_COUNTS:
        seen = windows(work, project, count, seconds)
        sent = seen["sent"]
        figures += [
            figure(
                f"shared.{count}.renders",
                f"{count} isolate(s): renders of {PAGE}",
                "count",
                [seen["renders"]],
                f"over {seconds:.0f} s ({seconds / WINDOW_S:.0f} windows), {sent:,} requests",
            ),
            figure(
                f"shared.{count}.d1",
                f"{count} isolate(s): D1 calls per request (steady)",
                "count",
                [seen["d1"] / sent] if sent else [],
                f"{seen['d1']} calls",
            ),
            figure(
                f"shared.{count}.kv",
                f"{count} isolate(s): KV calls per request (steady)",
                "count",
                [seen["kv"] / sent] if sent else [],
                f"{seen['kv']} calls",
            ),
            figure(
                f"shared.{count}.hit_kv",
                f"{count} isolate(s): KV calls on 50 memory hits per isolate",
                "count",
                [seen["hit_kv"]],
            ),
            figure(
                f"shared.{count}.hit_d1",
                f"{count} isolate(s): D1 calls on those hits (background refreshes)",
                "count",
                [seen["hit_d1"]],
            ),
        ]
        goals += [
            renders_per_window_goal(f"shared-{count}", count, seen["renders"], seconds / WINDOW_S),
            d1_reads_goal(f"shared-d1-{count}", count, seen["d1_reads"], seconds, TAG_CACHE_S),
            memory_hits_goal(
                f"shared-hits-{count}", seen["hit_kv"], seen["hit_d1"], 50 * count, count
            ),
        ]
        if seen["hit_kv"]:
            problems.append(f"{count} isolate(s): {seen['hit_kv']} KV calls on memory hits")
        log(
            f"shared: {count} isolate(s): {seen['renders']} renders, "
            f"{seen['d1']} D1 calls, {sent} requests"
        )
    post = blog_posts(work / "build")[0]
    for case, measured in cold_isr(work, post, samples=samples).items():
        rows = [sample for sample, _ in measured]
        calls = [call for _, made in measured for call in made]
        figures += [
            figure(
                f"shared.cold.{case}.wall",
                f"cold ISR request, {case}: wall latency",
                "ms",
                [r.wall_ms for r in rows],
            ),
            figure(
                f"shared.cold.{case}.cpu",
                f"cold ISR request, {case}: CPU (isolate thread)",
                "ms",
                [r.cpu_main_ms for r in rows],
            ),
            figure(
                f"shared.cold.{case}.fetches",
                f"cold ISR request, {case}: asset fetches",
                "count",
                [len(r.assets) for r in rows],
            ),
            figure(
                f"shared.cold.{case}.calls",
                f"cold ISR request, {case}: KV and D1 calls",
                "count",
                [len(made) for _, made in measured],
                ", ".join(sorted({f"{c.get('binding')}.{c.get('op')}" for c in calls})),
            ),
            figure(
                f"shared.cold.{case}.status",
                f"cold ISR request, {case}: answered STALE (build's copy)",
                "count",
                [sum(r.cache_status == "STALE" for r in rows)],
                f"of {len(rows)}; HIT: {sum(r.cache_status == 'HIT' for r in rows)}",
            ),
        ]
    return {
        "benchmark": "shared",
        "title": "Shared tier: KV and D1 (issue 11)",
        "params": {
            "seconds": seconds,
            "page": PAGE,
            "isolates": list(ISOLATE_COUNTS),
            "cold samples": samples,
        },
        "figures": figures,
        "goals": goals,
        "notes": [
            f"Steady traffic on {PAGE} (revalidate {WINDOW_S:.0f} s) from 2 connections per "
            "isolate, after every isolate held the page; renders counted from the isolates' log "
            "lines ('regenerated') and MISS answers; binding calls from the runtime's binding log.",
            f"Cold ISR: the first request for {post} in a fresh isolate, on a build "
            f"{OLD_BUILD_S:.0f} s old (SOURCE_DATE_EPOCH), {samples} isolates per case.",
        ],
        "problems": problems,
    }

"""d. Memory: one request for each of many distinct routes, with the default cache budget.

The Worker (the snapshot's src/ and wrangler.toml, so SEED_CACHE_MAX_BYTES is the
default 32 MiB) serves the synthetic site of `routes` routes in its pack layout
(bench/sites.py). Every route key of the site is requested once, in a shuffled order, by
`concurrency` keep-alive connections; the synthetic routes are not the example app's, so
the 1 in 50 that the build lists as on-demand and the pages whose 60 s or 1 h revalidate
window has passed meet the app's renderer, which answers 404 (cached like any page).

The cache is observed from outside, through the runtime's test-mode eval (runtime/README.md,
POST /eval), with no code path in src/: after the first request, the isolate's
`MemoryCache.set` is wrapped (in that isolate only) to record the peak of its byte count
after every store; between chunks of requests a snapshot reads its statistics, recounts
the bytes of every entry, and workerd's RSS is read from /proc.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from bench.goals import budget_goal
from bench.load import LoadResult, run_load
from bench.local import BenchRuntime
from bench.machine import log
from bench.procfs import rss_bytes
from bench.projects import make_project, source_dir
from bench.sites import synthetic_layout
from bench.stats import figure
from bench.synthetic_site import route_keys

# Runs once in the isolate, after its first request made the handler.
INSTRUMENT = """
import entry
cache = entry.Default.isolate.handler.cache
if not hasattr(cache, "_bench_peak"):
    cache._bench_peak = cache.stats.bytes
    cache._bench_sets = 0
    _original_set = cache.set

    def _set(key, value, _original_set=_original_set, cache=cache):
        stored = _original_set(key, value)
        cache._bench_sets += 1
        if cache.stats.bytes > cache._bench_peak:
            cache._bench_peak = cache.stats.bytes
        return stored

    cache.set = _set
cache.max_bytes
"""

SNAPSHOT = """
import entry
import pyodide_js
m = pyodide_js._module
p = m._malloc(40)
m._mallinfo(p)
info = [m.HEAP32[p // 4 + i] for i in range(10)]
m._free(p)
h = entry.Default.isolate.handler
c = h.cache
{
    "bytes": c.stats.bytes,
    "recount": sum(e.size + len(k) for k, e in c._entries.items()),
    "max_bytes": c.max_bytes,
    "entries": len(c),
    "evictions": c.stats.evictions,
    "hits": c.stats.hits,
    "misses": c.stats.misses,
    "rejected": c.stats.rejected,
    "peak": c._bench_peak,
    "sets": c._bench_sets,
    "asset_fetches": h.seeder.asset_fetches,
    "bytes_fetched": h.seeder.bytes_fetched,
    "wasm_heap": m.HEAP8.length,
    "python_heap": info[7] + info[4],
}
"""


def run(
    work: Path,
    *,
    routes: int,
    requests: int,
    concurrency: int,
    chunk: int,
    max_seconds: float,
    max_rss: int = 6 * 2**30,
) -> dict[str, Any]:
    laid = synthetic_layout(routes, "packs")
    project = make_project(
        work / "memory", src=source_dir(), assets_dir=laid.assets, build_module=laid.build_module
    )
    keys = route_keys(routes)
    random.Random(20261124).shuffle(keys)
    keys = keys[:requests]
    samples: list[dict[str, Any]] = []
    loads: list[LoadResult] = []
    done = 0
    started = time.monotonic()
    with BenchRuntime(project, work / "memory.log") as runtime:
        runtime.restart()
        first = runtime.get(keys[0])
        done = 1
        budget = runtime.control.evaluate(INSTRUMENT)
        pid = runtime.workerd_pid()
        rss_start = rss_bytes(pid)
        samples.append(_snapshot(runtime, pid, done, started))
        while done < len(keys):
            left = max_seconds - (time.monotonic() - started)
            if left <= 0:
                log(f"d: time limit reached after {done} requests")
                break
            if samples[-1]["rss"] > max_rss:
                # workerd's RSS grows with requests of any Worker here (see the notes): a
                # guard for the shared machine, not a property of the cache.
                log(f"d: workerd RSS over {max_rss / 2**30:.0f} GiB; stopping")
                break
            batch = keys[done : done + chunk]
            result = run_load(runtime.url, batch, concurrency=concurrency, max_seconds=left)
            loads.append(result)
            done += result.requests + result.errors
            snap = _snapshot(runtime, pid, done, started)
            samples.append(snap)
            elapsed = time.monotonic() - started
            log(
                f"d: {done:,}/{len(keys):,} requests in {elapsed:.0f} s "
                f"({result.rps:.0f} req/s): cache {snap['bytes'] / 2**20:.1f} MiB of "
                f"{snap['max_bytes'] / 2**20:.0f} MiB (peak {snap['peak'] / 2**20:.2f}), "
                f"{snap['entries']:,} entries, {snap['evictions']:,} evictions, "
                f"RSS {snap['rss'] / 2**20:.0f} MiB"
            )
        errors = runtime.control.python_log().get("errors", [])
    return summarize(
        samples,
        loads,
        first_status=first.status,
        budget=budget,
        rss_start=rss_start,
        planned=len(keys),
        done=done,
        routes=routes,
        concurrency=concurrency,
        errors=errors,
    )


def _snapshot(runtime: BenchRuntime, pid: int, done: int, started: float) -> dict[str, Any]:
    snap = runtime.control.evaluate(SNAPSHOT)
    snap["rss"] = rss_bytes(pid)
    snap["requests"] = done
    snap["t"] = round(time.monotonic() - started, 1)
    return snap


def summarize(
    samples: list[dict[str, Any]],
    loads: list[LoadResult],
    *,
    first_status: int,
    budget: int,
    rss_start: int,
    planned: int,
    done: int,
    routes: int,
    concurrency: int,
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    latencies = [ms for r in loads for ms in r.latencies_ms]
    statuses: dict[str, int] = {}
    cache: dict[str, int] = {}
    for r in loads:
        for k, v in r.statuses.items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
        for k, v in r.cache_statuses.items():
            cache[k] = cache.get(k, 0) + v
    last = samples[-1]
    elapsed = sum(r.elapsed_s for r in loads)
    figures = [
        figure("d.latency", "request latency over the run", "ms", latencies),
        figure("d.rps", "requests per second", "req/s", [r.rps for r in loads], "per chunk"),
        figure(
            "d.cache_bytes",
            "cache bytes at the samples",
            "B",
            [s["bytes"] for s in samples],
            f"budget {budget:,} B",
        ),
        figure("d.peak", "peak cache bytes (after every store)", "B", [last["peak"]]),
        figure("d.budget", "cache budget (SEED_CACHE_MAX_BYTES default)", "B", [budget]),
        figure("d.entries", "cache entries at the end", "count", [last["entries"]]),
        figure("d.evictions", "evictions at the end", "count", [last["evictions"]]),
        figure("d.rss", "workerd RSS at the samples", "B", [s["rss"] for s in samples]),
        figure(
            "d.rss_growth",
            "workerd RSS growth, first sample to last",
            "B",
            [last["rss"] - rss_start],
            "the constant Worker's grows too: see the notes",
        ),
        figure(
            "d.python_heap",
            "Python heap in use (Pyodide malloc) at the samples",
            "B",
            [s["python_heap"] for s in samples],
            f"{samples[0]['python_heap']:,} B after the first request",
        ),
        figure(
            "d.wasm_heap",
            "Python's wasm heap (Pyodide linear memory) at the samples",
            "B",
            [s["wasm_heap"] for s in samples],
            f"{samples[0]['wasm_heap']:,} B after the first request",
        ),
    ]
    problems = []
    if errors:
        problems.append(f"{len(errors)} Python errors, first: {errors[0].get('message', '')[:300]}")
    if first_status not in (200, 404):  # 404: a synthetic route the build did not prerender
        problems.append(f"the first request answered {first_status}")
    bad = {k: v for k, v in statuses.items() if k not in ("200", "404")}
    if bad:
        problems.append(f"statuses other than 200/404: {bad}")
    return {
        "benchmark": "memory",
        "title": "d. Memory: distinct routes against the cache budget",
        "params": {
            "routes": routes,
            "requests": planned,
            "concurrency": concurrency,
            "layout": "packs",
        },
        "figures": figures,
        "goals": [budget_goal(samples, done, planned)],
        "notes": [
            f"{done:,} of {planned:,} planned requests (one per route, shuffled) in "
            f"{elapsed:.0f} s of load, concurrency {concurrency}; HTTP statuses {statuses}; "
            f"cache statuses {cache}.",
            f"At the end: {last['entries']:,} entries, {last['bytes']:,} B "
            f"({last['bytes'] / budget:.1%} of the budget), {last['evictions']:,} evictions, "
            f"{last['rejected']} rejected, {last['sets']:,} stores; "
            f"{last['asset_fetches']:,} asset fetches, {last['bytes_fetched']:,} B fetched.",
            "The cache is read through the runtime's test-mode eval (no code path in src/): "
            "its statistics, a recount of every entry's bytes, and a peak recorded by wrapping "
            "that isolate's MemoryCache.set after the first request. Memory: workerd's RSS "
            "(/proc/<pid>/status), all of the process: it grows with requests for the constant "
            "Worker too (b: RSS growth per 1,000 requests; V8's heap, collected lazily, and the "
            "runtime's glue), so it says little about the cache. Python's own memory is "
            "Pyodide's heap: bytes in use in its malloc (mallinfo) and the wasm linear memory "
            "holding it (which only grows): those are the figures to compare with the budget.",
        ],
        "problems": problems,
        "raw": {"samples": samples, "statuses": statuses, "cache_statuses": cache},
    }

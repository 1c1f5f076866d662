"""b. Warm hit overhead: a cached page against a Worker that returns a constant body.

Three temporary projects with the snapshot's wrangler.toml, each on its own local
runtime: the example site (the snapshot's src/ and its own build), the constant
Worker (`Response("ok")`), and a constant Worker answering the page's own bytes and headers
(made into JS objects at import: the least a Python Worker can spend on that payload, so
the gap to it is the cache's own overhead, not the size of the answer). After a warm-up
(which also seeds the page), each gets rounds of a bounded load: `requests` GETs from
`concurrency` threads, each on a keep-alive connection over loopback; the order of the
Workers rotates from round to round. Each round also sends a quarter as many requests
one at a time (b2: latency without queueing), the Workers taking turns in short chunks,
and b2 must hold in every round. The page
is /about: it is
prerendered and never revalidates, so every answer is a plain HIT (a blog post would be
regenerated once a minute, in ctx.waitUntil, during the run). Latency is per request,
from sending to the whole body read; requests per second is a round's count over its
wall time. CPU per request is workerd's main-thread CPU over a round, divided by its
requests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bench.goals import WARM_SERIAL_RATIO, stable_ratio_goal
from bench.load import LoadResult, run_load
from bench.local import BenchRuntime
from bench.machine import log
from bench.procfs import cpu_delta_ms, cpu_sample, rss_bytes, wait_idle
from bench.projects import (
    CONSTANT_ENTRY,
    example_build,
    make_project,
    public_files,
    same_response_src,
    source_dir,
    write_worker,
)
from bench.stats import figure, median, percentile

PAGE = "/about"


WORKERS = ("constant", "same", "page")
SERIAL_CHUNKS = 10  # b2: the Workers take turns in this many chunks per round


def run(work: Path, *, requests: int, concurrency: int, rounds: int, warmup: int) -> dict[str, Any]:
    site = make_project(work / "site", src=source_dir())
    public_files(site / "public")
    example_build(work / "site-build", site)
    const = make_project(work / "constant", src=write_worker(work / "constant-src", CONSTANT_ENTRY))
    runtimes = {
        "constant": BenchRuntime(const, work / "constant.log"),
        "page": BenchRuntime(site, work / "site.log"),
    }
    results: dict[str, list[LoadResult]] = {name: [] for name in WORKERS}
    serial: dict[str, list[LoadResult]] = {name: [] for name in WORKERS}
    cpu: dict[str, list[float]] = {name: [] for name in WORKERS}
    rss: dict[str, list[int]] = {name: [] for name in WORKERS}

    def start(name: str) -> None:
        runtime = runtimes[name]
        runtime.start()
        run_load(runtime.url, [PAGE], concurrency=concurrency, total=warmup)
        rss[name].append(rss_bytes(runtime.workerd_pid()))

    try:
        start("constant")
        start("page")
        # The page as the cache serves it, once seeded: the third Worker's constant answer.
        answer = runtimes["page"].get(PAGE)
        same_src = same_response_src(
            work / "same-src", status=answer.status, headers=answer.headers, body=answer.body
        )
        same = make_project(work / "same", src=same_src)
        runtimes["same"] = BenchRuntime(same, work / "same.log")
        start("same")
        for n in range(rounds):
            order = WORKERS[n % len(WORKERS) :] + WORKERS[: n % len(WORKERS)]
            for name in order:
                runtime = runtimes[name]
                pid = runtime.workerd_pid()
                wait_idle(pid)
                before = cpu_sample(pid)
                result = run_load(runtime.url, [PAGE], concurrency=concurrency, total=requests)
                after = cpu_sample(pid)
                results[name].append(result)
                cpu[name].append(cpu_delta_ms(before, after)["main"] / max(result.requests, 1))
                rss[name].append(rss_bytes(pid))
                log(
                    f"b: round {n + 1}/{rounds} {name}: {result.requests} requests, "
                    f"median {percentile(result.latencies_ms, 50):.2f} ms, {result.rps:.0f} req/s, "
                    f"statuses {dict(result.statuses)} {dict(result.cache_statuses)}"
                )
            # And unloaded: one request at a time (latency without queueing), the Workers
            # taking turns in short chunks, so a burst of other load on the machine falls
            # on all of them alike.
            chunks = [LoadResult() for _ in WORKERS]
            for _chunk in range(SERIAL_CHUNKS):
                for name, into in zip(WORKERS, chunks, strict=True):
                    part = run_load(
                        runtimes[name].url,
                        [PAGE],
                        concurrency=1,
                        total=max(requests // 4 // SERIAL_CHUNKS, 1),
                    )
                    into.latencies_ms += part.latencies_ms
                    into.statuses.update(part.statuses)
                    into.cache_statuses.update(part.cache_statuses)
                    into.errors += part.errors
            for name, into in zip(WORKERS, chunks, strict=True):
                serial[name].append(into)
            log(
                f"b2: round {n + 1}/{rounds}: one at a time, "
                + ", ".join(
                    f"{w} {median(c.latencies_ms) or 0:.3f} ms"
                    for w, c in zip(WORKERS, chunks, strict=True)
                )
            )
    finally:
        for runtime in runtimes.values():
            runtime.stop()
    return summarize(
        results,
        serial,
        cpu,
        rss,
        len_body=len(answer.body),
        requests=requests,
        concurrency=concurrency,
        rounds=rounds,
    )


def summarize(
    results: dict[str, list[LoadResult]],
    serial: dict[str, list[LoadResult]],
    cpu: dict[str, list[float]],
    rss: dict[str, list[int]],
    *,
    len_body: int,
    requests: int,
    concurrency: int,
    rounds: int,
) -> dict[str, Any]:
    labels = {
        "constant": "constant Worker",
        "same": "constant Worker, the page's bytes and headers",
        "page": f"cached page {PAGE} (HIT)",
    }
    figures = []
    for name in WORKERS:
        latencies = [ms for r in results[name] for ms in r.latencies_ms]
        figures.append(
            figure(f"b.{name}.latency", f"{labels[name]}: latency, concurrency 8", "ms", latencies)
        )
    for name in WORKERS:
        latencies = [ms for r in serial[name] for ms in r.latencies_ms]
        figures.append(
            figure(
                f"b.{name}.latency_serial",
                f"{labels[name]}: latency, one request at a time",
                "ms",
                latencies,
            )
        )
    for name in ("page", "same"):
        figures.append(
            figure(
                f"b2.{name}.ratio",
                f"{labels[name]}: one at a time, median / the constant Worker's",
                "x",
                serial_ratios(serial, name),
                "per round",
            )
        )
    for name in WORKERS:
        figures.append(
            figure(
                f"b.{name}.rps",
                f"{labels[name]}: requests per second",
                "req/s",
                [r.rps for r in results[name]],
                "per round",
            )
        )
    for name in WORKERS:
        figures.append(
            figure(
                f"b.{name}.cpu",
                f"{labels[name]}: CPU per request, isolate thread",
                "ms",
                cpu[name],
                "per round",
            )
        )
    statuses = {
        name: {
            "http": {
                str(k): v for k, v in sum((r.statuses for r in rows), start=Counter()).items()
            },
            "cache": dict(sum((r.cache_statuses for r in rows), start=Counter())),
            "errors": sum(r.errors for r in rows),
        }
        for name, rows in ((n, results[n] + serial[n]) for n in results)
    }
    for name in WORKERS:
        sent = sum(r.requests for r in results[name] + serial[name])
        growth = (rss[name][-1] - rss[name][0]) if len(rss[name]) > 1 else None
        figures.append(
            figure(
                f"b.{name}.rss_growth",
                f"{labels[name]}: workerd RSS growth per 1,000 requests",
                "B",
                [] if growth is None or not sent else [growth * 1000 / sent],
                f"over {sent:,} requests after the warm-up",
            )
        )
    b2 = stable_ratio_goal(
        "b2",
        f"b2: a cached page, one request at a time, <= {WARM_SERIAL_RATIO}x the constant "
        "Worker, in each of 3 runs",
        [
            (p, c)
            for p, c in zip(
                serial_medians_per_round(serial, "page"),
                serial_medians_per_round(serial, "constant"),
                strict=True,
            )
            if p is not None and c is not None
        ],
        WARM_SERIAL_RATIO,
    )
    problems = []
    page_cache = statuses["page"]["cache"]
    if set(page_cache) != {"HIT"}:
        problems.append(f"the page was not always a HIT: {page_cache}")
    for name, info in statuses.items():
        if set(info["http"]) != {"200"} or info["errors"]:
            problems.append(f"{name}: statuses {info['http']}, {info['errors']} errors")
    return {
        "benchmark": "warm",
        "title": "b. Warm hit vs a constant Worker",
        "params": {
            "requests_per_round": requests,
            "concurrency": concurrency,
            "rounds": rounds,
            "page": PAGE,
        },
        "figures": figures,
        "goals": [b2],
        "notes": [
            f"{rounds} rounds of {requests} GETs at concurrency {concurrency} per Worker, "
            "the Workers' order rotating, after a warm-up; keep-alive connections over "
            "loopback; the client shares the machine's cores with workerd. Latency pools every "
            "request of the rounds; at concurrency 8 it is mostly queueing behind the isolate's "
            "one thread, so it follows throughput (for information). Each round also sends a "
            "quarter as many requests one at a time: b2 compares their medians, round by round.",
            f"{PAGE} is prerendered and never revalidates: every answer is a HIT from the memory "
            "cache, with no background work.",
            f"The 'same bytes' Worker answers {PAGE}'s body ({len_body} B) and headers as the "
            "cache serves them, made into JS objects once at import (bench/projects.py, "
            "SAME_RESPONSE_ENTRY): the gap to it is what the cache itself adds, the gap "
            "between it and the constant Worker what a larger answer costs.",
        ],
        "problems": problems,
        "raw": {"statuses": statuses},
    }


def serial_medians_per_round(serial: dict[str, list[LoadResult]], name: str) -> list[float | None]:
    return [median(r.latencies_ms) for r in serial[name]]


def serial_ratios(serial: dict[str, list[LoadResult]], name: str) -> list[float]:
    """Per round: `name`'s median latency one at a time over the constant Worker's."""
    return [
        m / c
        for m, c in zip(
            serial_medians_per_round(serial, name),
            serial_medians_per_round(serial, "constant"),
            strict=True,
        )
        if m is not None and c
    ]

"""a. Cold seed vs render: the first request for a prerendered blog post in a fresh isolate.

Five temporary projects, each with this repository's wrangler.toml and a snapshot of src/,
served by their own local runtime, measured in turn (interleaved, so drift in the
machine's load spreads over all of them):

    seeded    the example site, prerendered again just before each isolate starts, so
              the post is within its 60 s revalidate window: seeded and served (HIT)
    stale     the same site built once, more than 60 s before: the post is seeded and
              served (STALE) and one regeneration renders it in ctx.waitUntil, which a
              deployed Worker pays for too, once per isolate per page
    render    the same src/ with an empty public/__prerender/: "seeding off" the way a
              deploy without prerendered files is. The Worker's one index fetch
              (meta/build.json) answers 404, is remembered, and the renderer answers
              (MISS). No src/ edit, no fault injection
    constant  a Worker returning Response("ok"): the baseline of HTTP, workerd and the
              runtime's per-request glue
    fetch     (diagnostic) the constant Worker plus one env.ASSETS fetch: what the first
              asset round trip of an isolate costs, whichever path makes it

Each isolate then gets a second request, for another post (cold for that route): the
per-route cost once the isolate's first-request costs are paid.

Per sample: restart (fresh isolate, Python loaded and `entry` imported first), wait until
workerd is idle, read its CPU (per-thread schedstat, ns) and RSS, send the request, wait
until idle again (so ctx.waitUntil work counts), read again. "CPU" is workerd's main
thread, where the isolate (and so Python) runs; V8's helper threads (background
compilation, GC) are reported apart as "all threads". "Python CPU" subtracts the median
of the constant Worker's request in the same position (first or second).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.goals import seed_cpu_goal
from bench.harness import (
    BenchRuntime,
    ColdRequest,
    cold_request,
    constant_src,
    example_build,
    figure,
    log,
    make_project,
    percentile,
    public_files,
    source_dir,
)
from seeding.routes import MANIFEST_FILE

VARIANTS = ("constant", "fetch", "seeded", "stale", "render")
EXPECTED = {"constant": "", "fetch": "", "seeded": "HIT", "stale": "STALE", "render": "MISS"}
# A diagnostic Worker: the constant one plus one env.ASSETS fetch (and body read), as the
# Worker's asset reads make it. What a first request pays for its first asset round trip.
FETCH_ENTRY = """from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        response = await self.env.ASSETS.fetch("https://assets.invalid/__prerender/probe.txt")
        body = await response.bytes()
        return Response("ok" if len(body) == 6 else "bad")
"""
STALE_AFTER_S = 61  # blog posts revalidate every 60 s


def blog_posts(build: Path) -> list[str]:
    manifest = json.loads((build / MANIFEST_FILE).read_text())
    return sorted(
        route
        for route, record in manifest["routes"].items()
        if route.startswith("/blog/") and record.get("status") == "rendered"
    )


def _projects(work: Path) -> dict[str, Path]:
    roots = {}
    const = make_project(work / "constant", src=constant_src(work / "constant-src"))
    public_files(const / "public")
    (const / "public" / "__prerender").mkdir()
    roots["constant"] = const
    fetch_src = work / "fetch-src"
    fetch_src.mkdir()
    (fetch_src / "entry.py").write_text(FETCH_ENTRY)
    probe = make_project(work / "fetch", src=fetch_src)
    public_files(probe / "public")
    (probe / "public" / "__prerender").mkdir()
    (probe / "public" / "__prerender" / "probe.txt").write_text("probe\n")
    roots["fetch"] = probe
    for name in ("seeded", "stale", "render"):
        project = make_project(work / name, src=source_dir())
        public_files(project / "public")
        roots[name] = project
    (roots["render"] / "public" / "__prerender").mkdir()
    return roots


def _check(name: str, sample: ColdRequest) -> str | None:
    if sample.status != 200 or (name in ("constant", "fetch") and sample.body != b"ok"):
        return f"{name}: {sample.path} answered {sample.status}"
    if sample.cache_status != EXPECTED[name]:
        return f"{name}: {sample.path} was {sample.cache_status or '-'}, not {EXPECTED[name]}"
    if sample.errors:
        return f"{name}: Python errors: {sample.errors[0].get('message', '')[:300]}"
    return None


def run(work: Path, *, isolates: int) -> dict[str, Any]:
    roots = _projects(work)
    stale_build = work / "stale-build"
    example_build(stale_build, roots["stale"] / "public")
    stale_built = time.time()
    example_build(work / "seeded-build", roots["seeded"] / "public")
    posts = blog_posts(stale_build)
    runtimes = {name: BenchRuntime(root, work / f"{name}.log") for name, root in roots.items()}
    samples: dict[str, list[ColdRequest]] = {name: [] for name in VARIANTS}
    second: dict[str, list[ColdRequest]] = {name: [] for name in VARIANTS}
    problems: list[str] = []
    try:
        for runtime in runtimes.values():
            runtime.start()
        for i in range(isolates):
            post = posts[i % len(posts)]
            other = posts[(i + len(posts) // 2) % len(posts)]
            # Rotate the order, so no variant always follows the same one.
            order = VARIANTS[i % len(VARIANTS) :] + VARIANTS[: i % len(VARIANTS)]
            for name in order:
                if name == "seeded":
                    example_build(work / "seeded-build", roots["seeded"] / "public")
                if name == "stale":
                    wait = stale_built + STALE_AFTER_S - time.time()
                    if wait > 0:
                        log(f"waiting {wait:.0f} s until the stale build is past 60 s")
                        time.sleep(wait)
                for path, restart, into in ((post, True, samples), (other, False, second)):
                    sample = cold_request(runtimes[name], path, restart=restart)
                    problem = _check(name, sample)
                    if problem:
                        problems.append(problem)
                        log(f"warning: {problem}")
                    else:
                        into[name].append(sample)
            log(
                f"a: isolate {i + 1}/{isolates}: "
                + ", ".join(
                    f"{n} {samples[n][-1].wall_ms:.0f} ms/{samples[n][-1].cpu_main_ms:.0f} ms cpu"
                    for n in VARIANTS
                    if samples[n]
                )
            )
        python = runtimes["seeded"].warmup_info or {}
    finally:
        for runtime in runtimes.values():
            runtime.stop()
    return summarize(samples, second, problems, python, isolates)


def summarize(
    samples: dict[str, list[ColdRequest]],
    second: dict[str, list[ColdRequest]],
    problems: list[str],
    python: dict[str, Any],
    isolates: int,
) -> dict[str, Any]:
    figures, net = _figures(samples, "a", "1st request, ")
    more, net2 = _figures(second, "a.second", "2nd route, same isolate, ")
    figures += more
    fetches = [f for s in samples["seeded"] for f in s.assets]
    figures.append(
        figure(
            "a.asset_fetch_ms",
            "local asset fetch latency (asset log, per fetch, seeded 1st requests)",
            "ms",
            [f["ms"] for f in fetches if f.get("ms") is not None],
            "workerd's clock: 1 ms steps",
        )
    )
    for name, note in (
        ("seeded", "build.json + index shard + pack"),
        ("render", "meta/build.json answering 404"),
    ):
        figures.append(
            figure(
                f"a.{name}.fetches",
                f"asset fetches per {name} first request",
                "count",
                [len(s.assets) for s in samples[name]],
                note,
            )
        )
    figures.append(
        figure(
            "a.second.seeded.fetches",
            "asset fetches, seeded second route",
            "count",
            [len(s.assets) for s in second["seeded"]],
            "the pack (build.json and the shard are held)",
        )
    )
    stale_goal = seed_cpu_goal(net["stale"], net["render"])
    first_goal = seed_cpu_goal(net["seeded"], net["render"])
    second_goal = seed_cpu_goal(net2["seeded"], net2["render"])
    second_goal.update(
        id="a2",
        label="a2 (supplementary): the same for a second route in the same isolate",
    )
    goals = [first_goal, second_goal]
    notes = [
        *NOTES,
        f"Stale vs render, for the record: {stale_goal['status']}, {stale_goal['detail']}.",
    ]
    raw = {
        f"{order}.{name}": [_raw(s) for s in rows]
        for order, group in (("first", samples), ("second", second))
        for name, rows in group.items()
    }
    return {
        "benchmark": "cold",
        "title": "a. Cold seed vs render (first request of a fresh isolate)",
        "params": {"isolates": isolates, "route": "blog posts, rotating"},
        "python_in_worker": python.get("python"),
        "figures": figures,
        "goals": goals,
        "notes": notes,
        "problems": problems,
        "raw": raw,
    }


def _raw(s: ColdRequest) -> dict[str, Any]:
    return {
        "path": s.path,
        "cache": s.cache_status,
        "wall_ms": round(s.wall_ms, 3),
        "cpu_main_ms": round(s.cpu_main_ms, 3),
        "cpu_process_ms": round(s.cpu_process_ms, 3),
        "rss_growth": s.rss_growth,
        "fetches": [(f["path"], f["status"], f["ms"]) for f in s.assets],
    }


def _figures(
    samples: dict[str, list[ColdRequest]], prefix: str, which: str
) -> tuple[list[dict[str, Any]], dict[str, float | None]]:
    base = samples["constant"]
    base_cpu = percentile([s.cpu_main_ms for s in base], 50) if base else None
    figures = []
    labels = {
        "constant": "constant Worker (baseline)",
        "fetch": "constant + 1 ASSETS.fetch (diagnostic)",
        "seeded": "seeded (HIT)",
        "stale": "seeded, stale (STALE + regeneration)",
        "render": "render, no prerender files (MISS)",
    }
    for name in VARIANTS:
        rows = samples[name]
        figures.append(
            figure(
                f"{prefix}.{name}.wall",
                f"{which}{labels[name]}: wall latency",
                "ms",
                [s.wall_ms for s in rows],
            )
        )
    for name in VARIANTS:
        rows = samples[name]
        figures.append(
            figure(
                f"{prefix}.{name}.cpu",
                f"{which}{labels[name]}: CPU (isolate thread)",
                "ms",
                [s.cpu_main_ms for s in rows],
            )
        )
    for name in VARIANTS:
        rows = samples[name]
        figures.append(
            figure(
                f"{prefix}.{name}.cpu_all",
                f"{which}{labels[name]}: CPU (all workerd threads)",
                "ms",
                [s.cpu_process_ms for s in rows],
            )
        )
    net: dict[str, float | None] = {}
    for name in ("fetch", "seeded", "stale", "render"):
        rows = samples[name]
        values = [s.cpu_main_ms - base_cpu for s in rows] if base_cpu is not None else []
        figures.append(
            figure(
                f"{prefix}.{name}.python_cpu",
                f"{which}{labels[name]}: Python CPU (minus the baseline)",
                "ms",
                values,
            )
        )
        net[name] = percentile(values, 50) if values else None
    return figures, net


NOTES = [
    "Seeding off = the same src/ over an empty public/__prerender/ (a deploy without "
    "prerendered files): the Worker makes its one index fetch (meta/build.json, 404, "
    "remembered for the isolate) and renders. No src/ edit and no fault injection.",
    "CPU is read from outside: workerd's per-thread CPU time (/proc/<pid>/task/*/schedstat, "
    "ns) before the request and after workerd is idle again (ctx.waitUntil work included), "
    "on an otherwise idle runtime. 'Isolate thread' is workerd's main thread, where Python "
    "runs; 'all threads' adds V8's helpers (background compilation, GC). 'Python CPU' "
    "subtracts the median isolate-thread CPU of the constant Worker's request in the same "
    "position (first of the isolate, or second).",
    "The seeded project is prerendered again before each isolate starts, so the post is "
    "younger than its 60 s revalidate window (HIT); the stale project's build is older, so "
    "the post is served from the seed (STALE) and regenerated once in ctx.waitUntil, as in "
    "a deployed Worker for every isolate that starts over a minute after the deploy.",
    "'Second route': right after the first request, the same isolate gets another post "
    "(cold for that route): the per-route cost once the isolate's first-request costs are "
    "paid. No memory snapshot locally: a first request also pays first-run costs (lazy wasm "
    "compilation of interpreter paths not run at import, the first JS<->Python promise "
    "round trip of an asset fetch) that a snapshot may reduce in production.",
]

"""a. Cold seed against its floor: the first request for a prerendered blog post in a
fresh isolate, and a second route in the same isolate.

Four temporary projects (the snapshot's wrangler.toml), each on its own local runtime,
measured in turn, interleaved and in a rotating order, so drift in the machine's load
spreads over all of them:

    constant  a Worker answering Response("ok"): HTTP, workerd and the runtime's glue
    floor     the constant Worker making one ASSETS fetch of the same pack the seeded
              request reads (same bytes, the seeded project's assets), body read
    seeded    the example site and its build: one pack fetched, seeded, served (HIT)
    render    the same src/ with no build module: every page rendered (MISS); for
              information, the cost of the renderer itself

Per sample: restart (fresh isolate, Python loaded and `entry` imported first), wait until
workerd is idle, read the CPU of its threads (schedstat, ns), send the request, wait
until idle again (ctx.waitUntil work counts), read again. "Python CPU" is workerd's main
thread (where Python runs) minus the constant Worker's median in the same position. The
seeded build is made again whenever it is older than FRESH_S, so posts (revalidate 60 s)
are always fresh: a HIT, with no regeneration.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.goals import FIRST_REQUEST_FLOOR, SECOND_ROUTE_FLOOR, floor_goal
from bench.local import BenchRuntime, MeasuredRequest, cold_request
from bench.machine import log
from bench.projects import (
    CONSTANT_ENTRY,
    FLOOR_ENTRY,
    example_build,
    make_project,
    public_files,
    source_dir,
    write_worker,
)
from bench.scale import load_identity_module
from bench.stats import figure, median
from seeding.build.manifest import MANIFEST_FILE, parse_manifest
from seeding.build_identity import BUILD_MODULE
from seeding.packs import RouteDigest, pack_file

VARIANTS = ("constant", "floor", "seeded", "render")
EXPECTED = {"constant": "", "floor": "", "seeded": "HIT", "render": "MISS"}
FETCHES = {"constant": 0, "floor": 1, "seeded": 1, "render": 0}
FRESH_S = 40  # posts revalidate after 60 s
LABELS = {
    "constant": "constant Worker (baseline)",
    "floor": "floor: constant + 1 ASSETS fetch of the same pack",
    "seeded": "seeded (HIT)",
    "render": "rendered, no build (MISS; information)",
}


def blog_posts(build: Path) -> list[str]:
    manifest = parse_manifest((build / MANIFEST_FILE).read_bytes())
    return sorted(r.path for r in manifest.seedable() if r.path.startswith("/blog/"))


def _projects(work: Path) -> dict[str, Path]:
    seeded = make_project(work / "seeded", src=source_dir())
    public_files(seeded / "public")
    roots = {
        "constant": make_project(
            work / "constant", src=write_worker(work / "constant-src", CONSTANT_ENTRY)
        ),
        "floor": make_project(
            work / "floor",
            src=write_worker(work / "floor-src", FLOOR_ENTRY),
            assets_dir=seeded / "public",
        ),
        "seeded": seeded,
        "render": make_project(work / "render", src=source_dir()),
    }
    public_files(roots["render"] / "public")
    return roots


def _problem(name: str, sample: MeasuredRequest) -> str | None:
    if sample.status != 200 or (name in ("constant", "floor") and sample.body != b"ok"):
        return f"{name}: {sample.path} answered {sample.status} {sample.body[:40]!r}"
    if sample.cache_status != EXPECTED[name]:
        return f"{name}: {sample.path} was {sample.cache_status or '-'}, not {EXPECTED[name]}"
    if len(sample.assets) != FETCHES[name]:
        return f"{name}: {sample.path} made {len(sample.assets)} asset fetches"
    if sample.errors:
        return f"{name}: Python errors: {sample.errors[0].get('message', '')[:300]}"
    return None


class FreshBuild:
    """The seeded project's build, made again when older than FRESH_S."""

    def __init__(self, work: Path, project: Path) -> None:
        self.build, self.project, self.made = work / "seeded-build", project, 0.0

    def ensure(self) -> bool:
        """True when a new build was made (the runtime must restart to load it)."""
        if time.monotonic() - self.made < FRESH_S:
            return False
        example_build(self.build, self.project)
        self.made = time.monotonic()
        return True


def run(work: Path, *, isolates: int) -> dict[str, Any]:
    roots = _projects(work)
    fresh = FreshBuild(work, roots["seeded"])
    fresh.ensure()
    posts = blog_posts(fresh.build)
    identity = load_identity_module(roots["seeded"] / "src" / f"{BUILD_MODULE}.py")

    def floor_path(route: str) -> str:
        return "/" + pack_file(RouteDigest.of(route).bucket(identity.buckets))

    runtimes = {name: BenchRuntime(root, work / f"{name}.log") for name, root in roots.items()}
    first: dict[str, list[MeasuredRequest]] = {name: [] for name in VARIANTS}
    second: dict[str, list[MeasuredRequest]] = {name: [] for name in VARIANTS}
    problems: list[str] = []
    try:
        for runtime in runtimes.values():
            runtime.start()
        for i in range(isolates):
            post = posts[i % len(posts)]
            other = posts[(i + len(posts) // 2) % len(posts)]
            order = VARIANTS[i % len(VARIANTS) :] + VARIANTS[: i % len(VARIANTS)]
            for name in order:
                if name == "seeded":
                    fresh.ensure()  # the restart in cold_request loads a new build
                paths = (post, other) if name != "floor" else (floor_path(post), floor_path(other))
                for path, restart, into in ((paths[0], True, first), (paths[1], False, second)):
                    sample = cold_request(runtimes[name], path, restart=restart)
                    problem = _problem(name, sample)
                    if problem:
                        problems.append(problem)
                        log(f"warning: {problem}")
                    else:
                        into[name].append(sample)
            log(
                f"a: isolate {i + 1}/{isolates}: "
                + ", ".join(
                    f"{n} {first[n][-1].cpu_main_ms:.1f} ms cpu" for n in VARIANTS if first[n]
                )
            )
        python = runtimes["seeded"].python_version
    finally:
        for runtime in runtimes.values():
            runtime.stop()
    return summarize(first, second, problems, isolates, python)


def python_cpu(samples: dict[str, list[MeasuredRequest]]) -> dict[str, list[float]]:
    """Each variant's isolate-thread CPU minus the constant Worker's median."""
    base = median([s.cpu_main_ms for s in samples["constant"]])
    if base is None:
        return {name: [] for name in samples}
    return {name: [s.cpu_main_ms - base for s in rows] for name, rows in samples.items()}


def summarize(
    first: dict[str, list[MeasuredRequest]],
    second: dict[str, list[MeasuredRequest]],
    problems: list[str],
    isolates: int,
    python: str | None,
) -> dict[str, Any]:
    figures: list[dict[str, Any]] = []
    net: dict[str, dict[str, float | None]] = {}
    for order, samples, which in (("first", first, "1st request"), ("second", second, "2nd route")):
        for name in VARIANTS:
            rows = samples[name]
            figures.append(
                figure(
                    f"a.{order}.{name}.cpu",
                    f"{which}, {LABELS[name]}: CPU, isolate thread",
                    "ms",
                    [s.cpu_main_ms for s in rows],
                )
            )
        cpu = python_cpu(samples)
        net[order] = {}
        for name in VARIANTS[1:]:
            figures.append(
                figure(
                    f"a.{order}.{name}.python_cpu",
                    f"{which}, {LABELS[name]}: Python CPU (minus the constant Worker)",
                    "ms",
                    cpu[name],
                )
            )
            net[order][name] = median(cpu[name])
        figures.append(
            figure(
                f"a.{order}.seeded.wall",
                f"{which}, {LABELS['seeded']}: wall latency",
                "ms",
                [s.wall_ms for s in samples["seeded"]],
            )
        )
        figures.append(
            figure(
                f"a.{order}.seeded.fetches",
                f"{which}, seeded: asset fetches",
                "count",
                [len(s.assets) for s in samples["seeded"]],
            )
        )
    goals = [
        floor_goal(
            "a",
            f"a: seeded first request, Python CPU <= {FIRST_REQUEST_FLOOR}x the floor's",
            net["first"]["seeded"],
            net["first"]["floor"],
            FIRST_REQUEST_FLOOR,
        ),
        floor_goal(
            "a2",
            f"a2: a second route in the same isolate <= {SECOND_ROUTE_FLOOR}x the floor's",
            net["second"]["seeded"],
            net["second"]["floor"],
            SECOND_ROUTE_FLOOR,
        ),
    ]
    render = {o: (net[o]["seeded"], net[o]["render"]) for o in net}
    notes = [
        "Python CPU: workerd's main-thread CPU (/proc/<pid>/task/*/schedstat, ns) from idle "
        "before the request to idle after it, minus the constant Worker's median in the same "
        "position (first request of a fresh isolate, or second route). The floor fetches the "
        "very pack the seeded request reads (the seeded project's assets), reads its body as "
        "bytes and answers 'ok': what one asset round trip costs Python, with nothing parsed.",
        "For information, seeded vs rendered (Python CPU, medians): "
        + "; ".join(
            f"{order} {_ms(seeded)} vs {_ms(rendered)} ms"
            for order, (seeded, rendered) in render.items()
        )
        + ". The render path makes no fetch (no build module), so this compares a seed with "
        "the example renderer's own cost.",
        "No memory snapshot locally: a first request also pays first-run costs (lazy wasm "
        "compilation of interpreter paths not run at import) that a snapshot may reduce in "
        "production; the floor pays them too.",
    ]
    return {
        "benchmark": "cold",
        "title": "a. Cold seed against its floor (first request of a fresh isolate)",
        "params": {"isolates": isolates, "routes": "blog posts, rotating"},
        "python_in_worker": python,
        "figures": figures,
        "goals": goals,
        "notes": notes,
        "problems": problems,
        "raw": {
            f"{order}.{name}": [
                {
                    "path": s.path,
                    "cache": s.cache_status,
                    "cpu_main_ms": round(s.cpu_main_ms, 3),
                    "wall_ms": round(s.wall_ms, 3),
                    "fetches": [(f["path"], f["status"]) for f in s.assets],
                }
                for s in rows
            ]
            for order, group in (("first", first), ("second", second))
            for name, rows in group.items()
        },
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"

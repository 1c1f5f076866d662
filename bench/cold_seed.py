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

A single request's CPU varies by milliseconds from isolate to isolate, so a2 is decided
by a steadier measure of the same thing (`steady`): in one warm isolate per Worker, blocks
of requests for routes not yet seeded (a synthetic site of STEADY_ROUTES routes; the floor
fetches their packs), the Workers interleaved block by block, each block's CPU per request
minus the constant Worker's in the same block.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.goals import FIRST_REQUEST_FLOOR, SECOND_ROUTE_FLOOR, floor_goal
from bench.local import BenchRuntime, MeasuredRequest, cold_request
from bench.machine import log
from bench.procfs import cpu_delta_ms, cpu_sample, wait_idle
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
from bench.sites import synthetic_build, synthetic_layout
from bench.stats import figure, median
from seeding.build.manifest import MANIFEST_FILE, parse_manifest
from seeding.seed.build_identity import BUILD_MODULE
from seeding.seed.packs import RouteDigest, pack_file

VARIANTS = ("constant", "floor", "seeded", "render")
EXPECTED = {"constant": "", "floor": "", "seeded": "HIT", "render": "MISS"}
FETCHES = {"constant": 0, "floor": 1, "seeded": 1, "render": 0}
FRESH_S = 40  # posts revalidate after 60 s
STEADY_ROUTES = 10_000
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


def _per_request_ms(runtime: BenchRuntime, paths: list[str]) -> float:
    """workerd main-thread CPU per request over `paths`, sent one at a time, idle to idle."""
    pid = runtime.workerd_pid()
    wait_idle(pid)
    before = cpu_sample(pid)
    for path in paths:
        response = runtime.get(path)
        if response.status != 200:
            raise RuntimeError(f"{runtime.root.name}: {path} answered {response.status}")
    wait_idle(pid)
    return cpu_delta_ms(before, cpu_sample(pid))["main"] / len(paths)


def steady(work: Path, *, blocks: int, per_block: int) -> dict[str, list[float]]:
    """Per block: CPU per request of cold routes in a warm isolate, for the constant
    Worker, the floor (the routes' packs) and the seeded Worker; and, for the seeded one,
    the same routes again (HIT)."""
    from bench.scale_runtime import never_revalidating

    laid = synthetic_layout(STEADY_ROUTES, "packs")
    assert laid.build_module is not None
    identity = load_identity_module(laid.build_module)
    routes = never_revalidating(synthetic_build(STEADY_ROUTES), blocks * per_block + 1)
    packs = ["/" + pack_file(RouteDigest.of(r).bucket(identity.buckets)) for r in routes]
    roots = {
        "constant": make_project(
            work / "steady-constant", src=work / "constant-src", assets_dir=laid.assets
        ),
        "floor": make_project(
            work / "steady-floor", src=work / "floor-src", assets_dir=laid.assets
        ),
        "seeded": make_project(
            work / "steady-seeded",
            src=source_dir(),
            assets_dir=laid.assets,
            build_module=laid.build_module,
        ),
    }
    paths = {"constant": routes, "floor": packs, "seeded": routes}
    runtimes = {n: BenchRuntime(root, work / f"steady-{n}.log") for n, root in roots.items()}
    cpu: dict[str, list[float]] = {"constant": [], "floor": [], "seeded": [], "hit": []}
    try:
        for name, runtime in runtimes.items():
            runtime.start()
            runtime.get(paths[name][-1])  # the isolate's first request is paid here
        for block in range(blocks):
            chunk = slice(block * per_block, (block + 1) * per_block)
            for name, runtime in runtimes.items():
                cpu[name].append(_per_request_ms(runtime, paths[name][chunk]))
            cpu["hit"].append(_per_request_ms(runtimes["seeded"], routes[chunk]))
            log(
                f"a2: block {block + 1}/{blocks}: "
                + ", ".join(f"{k} {v[-1]:.2f}" for k, v in cpu.items())
            )
    finally:
        for runtime in runtimes.values():
            runtime.stop()
    return cpu


def paired_net(cpu: dict[str, list[float]], name: str) -> list[float]:
    """`name`'s CPU per request minus the constant Worker's, block by block."""
    return [v - c for v, c in zip(cpu[name], cpu["constant"], strict=True)]


def run(work: Path, *, isolates: int, blocks: int = 6, per_block: int = 150) -> dict[str, Any]:
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
    return summarize(
        first, second, steady(work, blocks=blocks, per_block=per_block), problems, isolates, python
    )


def python_cpu(samples: dict[str, list[MeasuredRequest]]) -> dict[str, list[float]]:
    """Each variant's isolate-thread CPU minus the constant Worker's median."""
    base = median([s.cpu_main_ms for s in samples["constant"]])
    if base is None:
        return {name: [] for name in samples}
    return {name: [s.cpu_main_ms - base for s in rows] for name, rows in samples.items()}


def summarize(
    first: dict[str, list[MeasuredRequest]],
    second: dict[str, list[MeasuredRequest]],
    blocks: dict[str, list[float]],
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
    for name, label in (("floor", LABELS["floor"]), ("seeded", LABELS["seeded"]), ("hit", "HIT")):
        figures.append(
            figure(
                f"a2.steady.{name}",
                f"warm isolate, cold routes, {label}: Python CPU per request (minus the "
                "constant Worker, per block)",
                "ms",
                paired_net(blocks, name),
                f"{len(blocks['constant'])} blocks, {STEADY_ROUTES:,}-route synthetic site",
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
            f"a2: a second route in the same isolate <= {SECOND_ROUTE_FLOOR}x the floor's "
            "(warm isolate, cold routes, per block)",
            median(paired_net(blocks, "seeded")),
            median(paired_net(blocks, "floor")),
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
        "a2 is decided by the steady measure (blocks of cold routes in one warm isolate per "
        "Worker, interleaved); the '2nd route' rows, one request per fresh isolate, measure the "
        f"same with more noise: seeded {_ms(net['second']['seeded'])} vs floor "
        f"{_ms(net['second']['floor'])} ms.",
        "No memory snapshot locally: a first request also pays first-run costs (lazy wasm "
        "compilation of interpreter paths not run at import) that a snapshot may reduce in "
        "production; the floor pays them too.",
    ]
    return {
        "benchmark": "cold",
        "title": "a. Cold seed against its floor (first request of a fresh isolate)",
        "params": {
            "isolates": isolates,
            "routes": "blog posts, rotating",
            "a2 blocks": f"{len(blocks['constant'])} x {STEADY_ROUTES:,}-route site",
        },
        "python_in_worker": python,
        "figures": figures,
        "goals": goals,
        "notes": notes,
        "problems": problems,
        "raw": {
            "steady_blocks": blocks,
            **{
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
        },
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"

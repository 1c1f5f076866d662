#!/usr/bin/env python3
"""The edge tier (issue 17, item 8): the project's Worker on the synthetic site of
10,000 routes (packs layout, built just before each run; shared tier on), under
Zipf(s = 1.0) traffic at c = 16 with an on-demand revalidation (tag `posts`, mode
`expire`) every few seconds, run twice in one go: without the edge, then with
`[cache] enabled = true` (the local runtime's stand-in for Workers Cache,
runtime/README.md "The edge"). Each run first sends the same traffic for
`--warm` seconds (steady state: the Zipf tail's first misses are not what is measured),
then measures for `--seconds`. For each it reports:

- the share of requests that reach Python (goal: at most 10% with the edge): the edge's
  `originRequests` over the requests sent (without the edge, every request does);
- Python CPU per 1,000 requests: workerd's main thread (where the isolate runs), from
  /proc, over the measured window;
- p50 and p99 latency, measured by the client;
- the time from a revalidation to the last old page served: a watcher asks every
  WATCH_EVERY_S for a page of the app tagged `posts` that the synthetic build does not
  hold (so the Worker renders it, with its tags; revalidate 60 s, longer than a run); a page
  is old when its generation stamp (the footer's `<time datetime>`) is from a whole second
  before the revalidation was sent. Reported per revalidation (null: an old page was still
  served at the end of the run).

    python -m bench.edge [--seconds 20] [--warm 10] [--every 4] [--out bench/results/edge.json]

The load client, workerd and the edge share this machine's cores: latencies are relative.
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import json
import random
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.load import run_load
from bench.local import BenchRuntime
from bench.machine import log
from bench.procfs import cpu_delta_ms, cpu_sample
from bench.projects import make_project, run_build_step, source_dir
from bench.stats import percentile
from bench.synthetic_site import SiteSpec, route_keys, write_site
from runtime.local_runtime import apply_d1_migrations, http_request
from seeding.seed.build_identity import BUILD_MODULE

ROUTES = 10_000
CONCURRENCY = 16
ZIPF_S = 1.0
TAG = "posts"
WATCH_EVERY_S = 0.05
SECRET = "bench-edge-secret"
# The footer's generation stamp (a page shows other dates, a post's own among them).
STAMP = re.compile(rb'class="generated"[^>]*>.*?<time datetime="([^"]+)"', re.DOTALL)
SHARE_GOAL = 0.10


def watched_route() -> str:
    """The app's first on-demand page tagged TAG (not in the synthetic build)."""
    from app.routing import route_table, tags
    from seeding.rendering import RenderMode

    return next(
        path
        for path, spec in route_table().items()
        if TAG in tags(spec) and spec.site_route.mode is RenderMode.ON_DEMAND
    )


def zipf_paths(routes: list[str], count: int, seed: int = 17) -> list[str]:
    """`count` paths drawn from `routes` (rank order) with weight 1 / rank**ZIPF_S."""
    weights = [1 / (rank**ZIPF_S) for rank in range(1, len(routes) + 1)]
    return random.Random(seed).choices(routes, weights=weights, k=count)


def generated_at(body: bytes) -> float | None:
    """The page's generation time (epoch seconds) from its stamp; None without one."""
    match = STAMP.search(body)
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1).decode().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class Watch:
    """What the watcher saw of `path`: (time sent, generation time or None), in order."""

    path: str
    samples: list[tuple[float, float | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        while not self.stop.is_set():
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                sent = time.time()
                conn.request("GET", self.path)
                response = conn.getresponse()
                body = response.read()
                if response.status == 200:
                    self.samples.append((sent, generated_at(body)))
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            self.stop.wait(WATCH_EVERY_S)


def last_old_after(samples: list[tuple[float, float | None]], sent_at: float) -> float | None:
    """Seconds from `sent_at` to the last sample generated a whole second before it; 0.0
    when none came after; None when the last sample of the run was still old."""
    cutoff = int(sent_at)
    times = [t for t, _ in samples]
    after = samples[bisect.bisect_left(times, sent_at) :]
    old = [t for t, at in after if at is None or at < cutoff]
    if not old:
        return 0.0
    if after and old[-1] == after[-1][0]:
        return None
    return old[-1] - sent_at


def _revalidate(base_url: str) -> tuple[float, int]:
    sent = time.time()
    response = http_request(
        base_url,
        "POST",
        "/__revalidate",
        headers={"authorization": f"Bearer {SECRET}", "content-type": "application/json"},
        body=json.dumps({"tags": [TAG], "mode": "expire"}).encode(),
    )
    return sent, response.status


def fresh_site(into: Path) -> tuple[Path, Path]:
    """The synthetic site of ROUTES routes built now, laid out in packs: (public folder,
    build module). Built just before each run, no page passes its window (60 s at least)
    during it: a page past it would be regenerated by the app, which does not know the
    synthetic routes (404), and the two runs would serve different sites."""
    build, public, worker = into / "build", into / "public", into / "worker"
    for folder in (build, public, worker):
        shutil.rmtree(folder, ignore_errors=True)
    write_site(SiteSpec(ROUTES, built_at=time.time()), build)
    public.mkdir()
    worker.mkdir()
    run_build_step("copy", build, public, "--worker-dir", worker)
    return public, worker / f"{BUILD_MODULE}.py"


def _project(work: Path, edge: bool) -> Path:
    name = "edge-on" if edge else "edge-off"
    into = work / name
    shutil.rmtree(into, ignore_errors=True)  # a fresh project (and D1 state) each run
    shutil.rmtree(work / f"state-{'on' if edge else 'off'}", ignore_errors=True)
    public, module = fresh_site(work / f"site-{name}")
    root = make_project(
        into,
        src=source_dir(),
        assets_dir=public,
        build_module=module,
        shared_tier=True,
        REVALIDATE_SECRET=SECRET,
    )
    if edge:
        wrangler = root / "wrangler.toml"
        wrangler.write_text(wrangler.read_text() + "\n[cache]\nenabled = true\n")
    return root


def run_one(
    work: Path, edge: bool, paths: list[str], *, warm: float, seconds: float, every: float
) -> dict[str, Any]:
    project = _project(work, edge)
    state = work / f"state-{'on' if edge else 'off'}"
    apply_d1_migrations(project, persist_to=state)
    name = "edge on" if edge else "edge off"
    with BenchRuntime(project, work / f"{project.name}.log", persist_to=state) as runtime:
        url = runtime.url
        watched = watched_route()
        run_load(url, [watched], concurrency=1, total=1)  # rendered once, with its tags
        # Steady state: the same traffic first (another stretch of the same Zipf draw).
        half = len(paths) // 2
        run_load(url, paths[half:], concurrency=CONCURRENCY, total=half, max_seconds=warm)
        if edge:
            runtime.control.reset_edge_stats()
        runtime.control.reset_python_log()
        watch = Watch(watched)
        watcher = threading.Thread(target=watch.run, args=(url,), daemon=True)
        revalidations: list[tuple[float, int]] = []
        stop = threading.Event()

        def revalidator() -> None:
            while not stop.wait(every):
                revalidations.append(_revalidate(url))

        pid = runtime.workerd_pid()
        before = cpu_sample(pid)
        watcher.start()
        reval = threading.Thread(target=revalidator, daemon=True)
        reval.start()
        load = run_load(url, paths[:half], concurrency=CONCURRENCY, total=half, max_seconds=seconds)
        stop.set()
        watch.stop.set()
        reval.join()
        watcher.join()
        cpu = cpu_delta_ms(before, cpu_sample(pid))
        python_requests = len(runtime.control.python_log()["requests"])
        stats = runtime.control.edge() if edge else {"enabled": False}
    # The watcher and the revalidations are requests too (all of them reach the edge).
    sent = load.requests + len(watch.samples) + len(revalidations)
    # Without the edge every request reaches Python (its log, capped at 10,000, agrees).
    reached = stats["originRequests"] if edge else sent
    delays = [last_old_after(watch.samples, at) for at, status in revalidations if status == 200]
    result = {
        "name": name,
        "watched": watched,
        "sent": sent,
        "load_requests": load.requests,
        "errors": load.errors,
        "statuses": dict(load.statuses),
        "rps": round(load.rps, 1),
        "reached_python": reached,
        "python_log_requests": python_requests,
        "share_python": round(reached / sent, 4) if sent else None,
        "python_cpu_ms_per_1000": round(cpu["main"] * 1000 / sent, 1) if sent else None,
        "p50_ms": round(percentile(load.latencies_ms, 50), 2),
        "p99_ms": round(percentile(load.latencies_ms, 99), 2),
        "revalidations": [status for _, status in revalidations],
        "last_old_page_s": [None if d is None else round(d, 3) for d in delays],
        "edge_counts": stats.get("counts"),
    }
    log(f"{name}: {json.dumps(result)}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load per run (default 20)")
    parser.add_argument("--warm", type=float, default=10.0, help="traffic before measuring")
    parser.add_argument("--every", type=float, default=4.0, help="seconds between revalidations")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-edge"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    routes = route_keys(ROUTES)
    paths = zipf_paths(routes, 400_000)
    args.work.mkdir(parents=True, exist_ok=True)
    runs = [
        run_one(args.work, edge, paths, warm=args.warm, seconds=args.seconds, every=args.every)
        for edge in (False, True)
    ]
    on = runs[1]
    report = {
        "benchmark": "edge",
        "routes": ROUTES,
        "concurrency": CONCURRENCY,
        "zipf_s": ZIPF_S,
        "seconds": args.seconds,
        "warm_seconds": args.warm,
        "revalidate_every_s": args.every,
        "runs": runs,
        "goal_share_python": {
            "limit": SHARE_GOAL,
            "measured": on["share_python"],
            "pass": on["share_python"] is not None and on["share_python"] <= SHARE_GOAL,
        },
    }
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

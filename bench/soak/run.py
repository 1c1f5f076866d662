"""The load-with-faults soak: many concurrent requests over a mix of routes (`mix`) against
the local runtime, while about a tenth of the Worker's asset fetches fail or are delayed
(`faults`) and isolates restart, so cold seeding keeps happening under faults; every
response is checked (`oracle`) and the run judged (`checks`).

    .venv/bin/python -m bench.soak                  # 20,000 requests, concurrency 64
    .venv/bin/python -m bench.soak --requests 2000  # a short run
    .venv/bin/python -m bench.run_all --only load   # the same, into bench/RESULTS.md

The run is cut into epochs, one per 1,000 requests: each starts a fresh isolate (the load
paused, nothing in flight), with its own faults on the prerender files, so its first
requests seed cold at full concurrency. workerd's RSS is sampled from /proc; Pyodide's
WASM heap and the memory cache's statistics are read in the isolate (test mode's eval) at
the end of each epoch. Bounded by the request count and --max-seconds; loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import projects
from bench.load import run_load
from bench.local import BenchRuntime
from bench.machine import git_info, log
from bench.procfs import rss_bytes, wait_idle
from bench.projects import example_build, make_project, public_files, source_dir
from bench.soak.checks import (
    Epoch,
    Record,
    _mib,
    evaluate_checks,
)
from bench.soak.faults import fault_share, next_fault_count, plan_faults
from bench.soak.gate import Gate
from bench.soak.mix import PRIVATE_PREFIX, build_probes, make_schedule
from bench.soak.oracle import asset_files, build_oracle, check_response, render_with
from bench.soak.report import result, summarize
from seeding.build.manifest import MANIFEST_FILE

MEMORY_PROBE = """
import entry
import pyodide_js
handler = entry.Default.isolate.handler
cache = None if handler is None else {
    "bytes": handler.cache.bytes_used,
    "budget": handler.cache.max_bytes,
    "entries": len(handler.cache),
}
{"wasm_heap": pyodide_js._module.HEAP8.length, "cache": cache}
"""


@dataclass(frozen=True)
class Settings:
    requests: int = 20_000
    concurrency: int = 64
    fault_rate: float = 0.10
    restarts: int = 20  # isolate restarts during the run
    max_seconds: float = 900
    timeout: float = 60  # per request
    seed: int = 1
    rss_interval: float = 0.25


def send(conn: http.client.HTTPConnection, url: str) -> tuple[int, dict[str, str], bytes]:
    conn.request("GET", url)
    response = conn.getresponse()
    body = response.read()
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return response.status, headers, body


class LoadRun:
    def __init__(self, workdir: Path, settings: Settings) -> None:
        self.workdir = workdir
        self.settings = settings
        self.requests = settings.requests
        self.seed = settings.seed
        self.records: list[Record] = []
        self.problems: list[dict[str, str]] = []
        self.epochs: list[Epoch] = []
        self.rss_samples: list[tuple[float, int]] = []
        self.rss_final: int | None = None
        self.transport_errors = 0
        self.reconnects = 0
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._sampling = threading.Event()
        self.load_seconds = 0.0
        self.wall_seconds = 0.0
        self.python: str | None = None
        self.calibration: dict[str, Any] = {}

    # -- setup --

    def prepare(self) -> None:
        started = time.monotonic()
        project = make_project(self.workdir / "project", src=source_dir())
        public_files(project / "public")
        build = self.workdir / "build"
        example_build(build, project)
        self.project, self.build = project, build
        self.files = asset_files(project / "public")
        statics = sorted(p.name for p in (project / "public").iterdir() if p.is_file())
        manifest = json.loads((build / MANIFEST_FILE).read_text())
        modes = render_with(project / "src", [])["modes"]
        private = [f.removeprefix(PRIVATE_PREFIX) for f in self.files]
        self.probes = build_probes(manifest, modes, statics, private, seed=self.seed)
        self.schedule = make_schedule(self.probes, self.requests, self.seed)
        self.oracle = build_oracle(project, build, self.probes, statics)
        log(
            f"soak: project, build and oracle ready in {time.monotonic() - started:.1f} s: "
            f"{len(manifest['routes'])} routes, {len(self.files)} prerender files, "
            f"{len(self.probes)} URLs"
        )

    # -- the load threads --

    def _worker(self, gate: Gate, base: tuple[str, int]) -> None:
        conn: http.client.HTTPConnection | None = None
        generation = -1
        records: list[Record] = []
        problems: list[dict[str, str]] = []
        failed = reconnects = 0
        try:
            while (ticket := gate.acquire()) is not None:
                number, gen = ticket
                try:
                    probe = self.schedule[number]
                    if conn is None or gen != generation:
                        if conn is not None:
                            conn.close()
                        conn = http.client.HTTPConnection(*base, timeout=self.settings.timeout)
                        generation, fresh = gen, True
                    else:
                        fresh = False
                    started = time.perf_counter()
                    try:
                        status, headers, body = send(conn, probe.url)
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection(*base, timeout=self.settings.timeout)
                        if fresh:
                            raise
                        # A kept-alive connection the server had closed: once more, anew.
                        reconnects += 1
                        started = time.perf_counter()
                        status, headers, body = send(conn, probe.url)
                    ms = (time.perf_counter() - started) * 1000
                    verdict = check_response(probe, status, headers, body, self.oracle)
                    records.append(
                        Record(
                            probe.group,
                            status,
                            ms,
                            verdict.phase,
                            headers.get("x-cache-status", "-"),
                            verdict.ok,
                        )
                    )
                    if not verdict.ok and len(problems) < 50:
                        problems.append(
                            {"url": probe.url, "status": str(status), "problem": verdict.problem}
                        )
                except (OSError, http.client.HTTPException) as exc:
                    failed += 1
                    records.append(Record(self.schedule[number].group, 0, 0.0, None, "-", False))
                    if len(problems) < 50:
                        problems.append(
                            {"url": self.schedule[number].url, "status": "0", "problem": repr(exc)}
                        )
                    conn = None
                finally:
                    gate.release()
        finally:
            if conn is not None:
                conn.close()
            with self._lock:
                self.records.extend(records)
                self.problems.extend(problems)
                self.transport_errors += failed
                self.reconnects += reconnects

    def _sampler(self) -> None:
        while not self._sampling.wait(self.settings.rss_interval):
            pid = self._pid
            if pid is None:
                continue
            try:
                rss = rss_bytes(pid)
            except (OSError, ValueError, KeyError):
                continue  # a restart replaced the process
            self.rss_samples.append((time.monotonic(), rss))
            if self.epochs:
                epoch = self.epochs[-1]
                epoch.rss_max = max(epoch.rss_max, rss)

    # -- epochs --

    def _memory(self, runtime: BenchRuntime) -> dict[str, Any]:
        value: dict[str, Any] = runtime.control.evaluate(MEMORY_PROBE)
        return value

    def _begin_epoch(self, runtime: BenchRuntime, rng: random.Random, restart: bool) -> None:
        epoch = Epoch(len(self.epochs))
        fetched = sum(e.fetches for e in self.epochs)
        faulted = sum(e.faulted for e in self.epochs)
        done = [e for e in self.epochs if e.fetches]
        expected = (
            sum(e.fetches - e.faulted for e in done) / len(done) if done else 2.0 * len(self.files)
        )
        count = next_fault_count(
            self.settings.fault_rate, faulted, fetched, expected, len(self.files)
        )
        epoch.faults = plan_faults(self.files, count, rng)
        runtime.control.set_faults(epoch.faults)
        self._pid = None
        if restart:
            info = runtime.restart()
            epoch.restart_ms = info.get("restartMs")
            epoch.warmup_ms = (info.get("warmup") or {}).get("ms")
        pid = runtime.workerd_pid()
        wait_idle(pid, timeout=10)
        epoch.rss_warm = rss_bytes(pid)
        epoch.wasm_warm = self._memory(runtime)["wasm_heap"]
        epoch.rss_max = epoch.rss_warm
        self.epochs.append(epoch)
        self._pid = pid

    def _calibrate(self, runtime: BenchRuntime) -> None:
        """The runtime's own RSS growth: requests for a public file, which the asset
        layer serves without running the Worker, at the load's concurrency."""
        statics = sorted({p.url for p in self.probes if p.kind == "static"})
        count = min(1000, self.requests)
        if not statics:
            return
        pid = runtime.workerd_pid()
        wait_idle(pid, timeout=10)
        before = rss_bytes(pid)
        result = run_load(runtime.url, statics, concurrency=self.settings.concurrency, total=count)
        wait_idle(pid, timeout=10)
        after = rss_bytes(pid)
        self.calibration = {
            "path": statics[0] if len(statics) == 1 else statics,
            "requests": result.requests,
            "statuses": {str(k): v for k, v in result.statuses.items()},
            "rss_before": before,
            "rss_after": after,
            "growth_per_request": (after - before) / result.requests if result.requests else None,
        }
        log(
            f"calibration: {result.requests} public-file requests grew workerd's RSS "
            f"{_mib(after - before)}"
        )

    def _end_epoch(self, runtime: BenchRuntime, sent: int) -> None:
        epoch = self.epochs[-1]
        epoch.requests = sent - sum(e.requests for e in self.epochs[:-1])
        pid = self._pid
        if pid is not None:
            wait_idle(pid, timeout=10)
            epoch.rss_end = rss_bytes(pid)
            epoch.rss_max = max(epoch.rss_max, epoch.rss_end)
        share = fault_share(runtime.control.asset_log())
        epoch.fetches, epoch.faulted, epoch.fault_kinds = (
            share["fetches"],
            share["faulted"],
            share["kinds"],
        )
        python = runtime.control.python_log()
        lines = [o.get("line", "") for o in python.get("output", [])]
        epoch.warnings = sum(1 for line in lines if line.startswith("WARNING"))
        epoch.tracebacks = sum(1 for line in lines if "Traceback" in line)
        epoch.uncaught = len(python.get("errors", []))
        memory = self._memory(runtime)
        epoch.wasm_end = memory["wasm_heap"]
        epoch.cache = memory["cache"]
        log(
            f"isolate {epoch.number}: {epoch.fetches} fetches, {epoch.faulted} faulted "
            f"({len(epoch.faults)} files), RSS max {_mib(epoch.rss_max)}, "
            f"WASM {_mib(epoch.wasm_end)}"
        )

    def run(self) -> None:
        args = self.settings
        started = time.monotonic()
        deadline = started + args.max_seconds
        rng = random.Random(args.seed)
        epochs = args.restarts + 1
        boundaries = [round(self.requests * k / epochs) for k in range(1, epochs)]
        runtime = BenchRuntime(self.project, self.workdir / "runtime.log")
        runtime.start()
        self.python = runtime.python_version
        sampler = threading.Thread(target=self._sampler, daemon=True)
        sampler.start()
        try:
            self._calibrate(runtime)
            self._begin_epoch(runtime, rng, restart=True)
            gate = Gate(self.requests, boundaries, deadline)
            parts = urlsplit(runtime.url)
            base = (parts.hostname or "127.0.0.1", parts.port or 80)
            threads = [
                threading.Thread(target=self._worker, args=(gate, base), daemon=True)
                for _ in range(args.concurrency)
            ]
            load_started = time.monotonic()
            paused = 0.0
            for thread in threads:
                thread.start()
            while True:
                state = gate.wait_quiet()
                self._end_epoch(runtime, gate.sent)
                if state == "end":
                    break
                if time.monotonic() > deadline:
                    gate.stop()
                    break
                pause = time.monotonic()
                self._begin_epoch(runtime, rng, restart=True)
                log(f"{gate.sent:,} requests sent; isolate {len(self.epochs) - 1} started")
                paused += time.monotonic() - pause
                gate.reopen()
            for thread in threads:
                thread.join(timeout=args.timeout + 5)
            self.load_seconds = time.monotonic() - load_started - paused
            self.rss_final = self.epochs[-1].rss_end
            self.requests_sent = gate.sent
        finally:
            self._sampling.set()
            runtime.control.clear_faults()
            runtime.stop()
        self.wall_seconds = time.monotonic() - started


def run(work: Path, *, requests: int, **options: Any) -> dict[str, Any]:
    """One soak in `work`, the snapshot's sources served (`bench.projects.SOURCE`)."""
    settings = Settings(requests=requests, restarts=max(1, requests // 1000), **options)
    soak = LoadRun(work, settings)
    soak.prepare()
    soak.run()
    summary = summarize(soak)
    return result(soak, summary, evaluate_checks(summary, settings.fault_rate))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=Settings.requests)
    parser.add_argument("--concurrency", type=int, default=Settings.concurrency)
    parser.add_argument("--fault-rate", type=float, default=Settings.fault_rate)
    parser.add_argument("--max-seconds", type=float, default=Settings.max_seconds)
    parser.add_argument("--seed", type=int, default=Settings.seed)
    parser.add_argument("--worktree", action="store_true", help="serve the working tree's src/")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args(argv)
    if args.requests < 2 or args.concurrency < 1 or not 0 <= args.fault_rate < 1:
        parser.error("need --requests >= 2, --concurrency >= 1, 0 <= --fault-rate < 1")
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        commit = git_info(include_sources=args.worktree)
        projects.snapshot_sources(work / "source", None if args.worktree else commit["commit"])
        payload = run(
            work,
            requests=args.requests,
            concurrency=args.concurrency,
            fault_rate=args.fault_rate,
            max_seconds=args.max_seconds,
            seed=args.seed,
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for goal in payload["goals"]:
        print(f"{goal['status']}  {goal['label']}: {goal['detail']}")
    print(json.dumps({f["id"]: f["median"] for f in payload["figures"]}))
    return 0 if all(g["status"] == "PASS" for g in payload["goals"]) else 1


if __name__ == "__main__":
    sys.exit(main())

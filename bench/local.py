"""The local runtime as the benchmarks drive it: a `LocalRuntimeProcess` serving one
project, its control API through `runtime.local_runtime.ControlClient` (the one client,
shared with the HTTP tests), and a request measured from outside the isolate
(`cold_request`: CPU of workerd's threads and RSS from /proc, the asset log, errors).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import log
from bench.procfs import cpu_delta_ms, cpu_sample, find_workerd, rss_bytes, wait_idle
from runtime.local_runtime import ControlClient, HttpResponse, LocalRuntimeProcess, http_request

# Python's heap inside the isolate: dlmalloc's mallinfo() in Pyodide's wasm memory
# (`uordblks` + `hblkhd`: bytes in use; `arena`) and the size of that linear memory.
PYTHON_HEAP = """
import pyodide_js
m = pyodide_js._module
p = m._malloc(40)
m._mallinfo(p)
v = [m.HEAP32[p // 4 + i] for i in range(10)]
m._free(p)
{"in_use": v[7] + v[4], "arena": v[0], "linear_memory": m.HEAP8.length}
"""


class BenchRuntime:
    """The local runtime in test mode serving `root` (`isolates` of them). The Worker is
    measured alone unless `edge` (wrangler.toml enables [cache]: the edge stand-in in front)."""

    def __init__(
        self,
        root: Path,
        log_path: Path,
        *,
        isolates: int = 1,
        persist_to: Path | None = None,
        edge: bool = False,
    ) -> None:
        self.root = root
        self.process = LocalRuntimeProcess(
            root, log_path, isolates=isolates, persist_to=persist_to, edge=edge
        )
        self.control = ControlClient("", timeout=600)
        self.warmup_info: dict[str, Any] = {}

    def __enter__(self) -> BenchRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        self.process.start()
        self.control = ControlClient(self.process.control, timeout=600)
        self.warmup_info = self.control.warmup()
        if not self.warmup_info.get("ok"):
            raise RuntimeError(f"the Worker in {self.root} failed to start: {self.warmup_info}")
        log(f"runtime for {self.root.name} ready in {time.monotonic() - started:.1f} s")

    def stop(self) -> None:
        self.process.stop()

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def python_version(self) -> str | None:
        python = self.warmup_info.get("python")
        return str(python).split(" (")[0] if python else None

    def restart(self, isolate: int | None = None) -> dict[str, Any]:
        """A fresh isolate (all of them, or one), Python loaded before this returns."""
        info = self.control.restart(isolate=isolate)
        warm = info.get("warmup") or {}
        if not warm.get("ok"):
            raise RuntimeError(f"the Worker failed to start after a restart: {warm}")
        self.warmup_info = warm
        return info

    def workerd_pid(self) -> int:
        assert self.process.proc is not None
        return find_workerd(self.process.proc.pid)

    def get(self, path: str, timeout: float = 60) -> HttpResponse:
        return http_request(self.url, "GET", path, timeout=timeout)

    def python_heap(self) -> dict[str, int]:
        value: dict[str, int] = self.control.evaluate(PYTHON_HEAP)
        return value


@dataclass
class MeasuredRequest:
    """One request measured from outside the isolate (see `cold_request`)."""

    path: str
    status: int
    cache_status: str
    wall_ms: float
    cpu_main_ms: float
    cpu_process_ms: float
    rss_before: int
    rss_after: int
    settled: bool
    body: bytes = b""
    heap_after: int | None = None
    assets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rss_growth(self) -> int:
        return self.rss_after - self.rss_before


def cold_request(
    runtime: BenchRuntime, path: str, *, restart: bool = True, heap: bool = False
) -> MeasuredRequest:
    """The first request of a fresh isolate: restart (Python loaded first, as a new
    isolate does before its first request), wait until workerd is idle, read its CPU and
    RSS, send the request, wait until idle again (work left in ctx.waitUntil counts), read
    them again, then the asset log and Python's errors. `restart=False`: the same for the
    running isolate (its asset log emptied first). `heap`: Python's heap in use, read after
    all that (never before: the eval would run code paths the request runs first)."""
    if restart:
        runtime.restart()
    else:
        runtime.control.reset_asset_log()
    pid = runtime.workerd_pid()
    wait_idle(pid)
    rss_before = rss_bytes(pid)
    before = cpu_sample(pid)
    started = time.perf_counter()
    response = runtime.get(path)
    wall_ms = (time.perf_counter() - started) * 1000
    settled = wait_idle(pid)
    after = cpu_sample(pid)
    rss_after = rss_bytes(pid)
    cpu = cpu_delta_ms(before, after)
    assets = runtime.control.asset_log()
    heap_after = runtime.python_heap()["in_use"] if heap else None
    return MeasuredRequest(
        path=path,
        status=response.status,
        cache_status=response.headers.get("x-cache-status", ""),
        wall_ms=wall_ms,
        cpu_main_ms=cpu["main"],
        cpu_process_ms=cpu["process"],
        rss_before=rss_before,
        rss_after=rss_after,
        settled=settled,
        body=response.body,
        heap_after=heap_after,
        assets=assets,
        errors=runtime.control.python_log().get("errors", []),
    )


def eval_cpu_ms(runtime: BenchRuntime, code: str) -> float:
    """workerd's main-thread CPU (ms) for one eval of `code` in isolate 0, from idle to
    idle: how the benchmarks time work inside the isolate, whose clock stands still."""
    pid = runtime.workerd_pid()
    wait_idle(pid)
    before = cpu_sample(pid)
    runtime.control.evaluate(code)
    wait_idle(pid)
    return cpu_delta_ms(before, cpu_sample(pid))["main"]

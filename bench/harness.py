"""What the runtime benchmarks share: statistics, /proc readings of the workerd process,
the machine's description, temporary projects, the local runtime with its control API,
and a bounded keep-alive load loop.

Everything here that can be checked without a runtime (percentiles, /proc parsing,
wrangler.toml rewriting, cache keys) is unit-tested in tests/unit/test_bench_harness.py.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
for _entry in (str(ROOT), str(ROOT / "src")):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from runtime.local_runtime import (  # noqa: E402
    HttpResponse,
    LocalRuntimeProcess,
    control_request,
    http_request,
)

CACHE_DIR = ROOT / "bench" / ".cache"
# Where the Worker's src/, the build scripts and wrangler.toml come from: a snapshot taken
# when a run starts (`snapshot_sources`: the commit, or the working tree), so edits others
# make during an hour-long run never reach part of it. Until then, this repository.
SOURCE = ROOT
# The Python version a runtime's warm-up reported (for the machine's description).
WORKER_PYTHON: str | None = None
RESULTS_DIR = ROOT / "bench" / "results"
PROC = Path("/proc")


def log(message: str) -> None:
    """Progress for the person running the benchmarks (stderr, flushed)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks
    (numpy's default); raises on an empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """median, p95, run count, min, max and mean of `values` (None when there are none)."""
    data = [float(v) for v in values]
    if not data:
        return {"median": None, "p95": None, "runs": 0, "min": None, "max": None, "mean": None}
    return {
        "median": percentile(data, 50),
        "p95": percentile(data, 95),
        "runs": len(data),
        "min": min(data),
        "max": max(data),
        "mean": sum(data) / len(data),
    }


def figure(
    figure_id: str, label: str, unit: str, values: Iterable[float], note: str = ""
) -> dict[str, Any]:
    """One row of the results table: a named, unit-bearing summary of measured values."""
    return {"id": figure_id, "label": label, "unit": unit, **summarize(values), "note": note}


# --- /proc -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    utime_ticks: int
    stime_ticks: int
    start_ticks: int


def parse_stat(text: str) -> ProcStat:
    """/proc/<pid>/stat. The command name is in parentheses and may itself hold spaces
    and parentheses, so the fields are split after the last ')'."""
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    pid = int(text[:open_paren].strip())
    comm = text[open_paren + 1 : close_paren]
    rest = text[close_paren + 1 :].split()
    # rest[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
    return ProcStat(
        pid=pid,
        comm=comm,
        state=rest[0],
        ppid=int(rest[1]),
        utime_ticks=int(rest[11]),
        stime_ticks=int(rest[12]),
        start_ticks=int(rest[19]),
    )


def parse_schedstat(text: str) -> int:
    """/proc/<pid>/task/<tid>/schedstat: nanoseconds spent on a CPU (first field)."""
    return int(text.split()[0])


def parse_status_bytes(text: str, name: str = "VmRSS") -> int:
    """A `kB` field of /proc/<pid>/status, in bytes."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            amount, unit = value.split()
            if unit != "kB":
                raise ValueError(f"{name}: unexpected unit {unit!r}")
            return int(amount) * 1024
    raise KeyError(name)


def descendants(pid: int, proc: Path = PROC) -> list[ProcStat]:
    """Every live descendant process of `pid` (children, their children, ...)."""
    stats: list[ProcStat] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats.append(parse_stat((entry / "stat").read_text()))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not a process
    children: dict[int, list[ProcStat]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat)
    found: list[ProcStat] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def find_workerd(parent_pid: int, proc: Path = PROC) -> int:
    """The pid of the live workerd under the runtime's Node process (the newest if a
    restart left the old one exiting)."""
    candidates = [
        s for s in descendants(parent_pid, proc) if s.comm == "workerd" and s.state not in "ZX"
    ]
    if not candidates:
        raise RuntimeError(f"no workerd process under pid {parent_pid}")
    return max(candidates, key=lambda s: s.start_ticks).pid


@dataclass(frozen=True)
class CpuSample:
    """CPU time of a process: per thread in ns (schedstat), and utime+stime in clock ticks
    (which also keeps the time of threads that have exited)."""

    pid: int
    threads: dict[int, tuple[str, int]]  # tid -> (name, ns on CPU)
    ticks: int

    @property
    def main_ns(self) -> int:
        # The thread whose id is the pid: workerd's main thread, where the isolate runs.
        return self.threads.get(self.pid, ("", 0))[1]

    @property
    def total_ns(self) -> int:
        return sum(ns for _, ns in self.threads.values())


def cpu_sample(pid: int, proc: Path = PROC) -> CpuSample:
    threads: dict[int, tuple[str, int]] = {}
    task_dir = proc / str(pid) / "task"
    for task in task_dir.iterdir():
        try:
            name = (task / "comm").read_text().strip()
            threads[int(task.name)] = (name, parse_schedstat((task / "schedstat").read_text()))
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    stat = parse_stat((proc / str(pid) / "stat").read_text())
    return CpuSample(pid, threads, stat.utime_ticks + stat.stime_ticks)


def ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


def cpu_delta_ms(before: CpuSample, after: CpuSample, hz: int | None = None) -> dict[str, float]:
    """CPU spent between two samples of one process: `main` (the isolate's thread),
    `process` (all threads). Per-thread times are ns-precise; when a thread ended in
    between (its time vanishes from the per-thread sum), the process figure falls back to
    utime+stime, which keeps it but only at clock-tick precision."""
    if before.pid != after.pid:
        raise ValueError(f"samples of different processes ({before.pid}, {after.pid})")
    main = (after.main_ns - before.main_ns) / 1e6
    per_thread = sum(
        ns - before.threads.get(tid, ("", 0))[1] for tid, (_, ns) in after.threads.items()
    )
    ended = any(tid not in after.threads for tid in before.threads)
    process = per_thread / 1e6
    if ended:
        process = max(process, (after.ticks - before.ticks) * 1000 / (hz or ticks_per_second()))
    return {"main": main, "process": process}


def rss_bytes(pid: int, proc: Path = PROC) -> int:
    return parse_status_bytes((proc / str(pid) / "status").read_text(), "VmRSS")


def wait_idle(
    pid: int,
    *,
    interval: float = 0.1,
    quiet_ms: float = 0.5,
    quiet_intervals: int = 2,
    timeout: float = 15.0,
    proc: Path = PROC,
) -> bool:
    """Wait until the process spends less than `quiet_ms` of CPU in each of
    `quiet_intervals` consecutive intervals (background compilation after a load, a
    regeneration in ctx.waitUntil, ...). False on timeout."""
    deadline = time.monotonic() + timeout
    previous = cpu_sample(pid, proc)
    quiet = 0
    while time.monotonic() < deadline:
        time.sleep(interval)
        current = cpu_sample(pid, proc)
        spent = cpu_delta_ms(previous, current)["process"]
        quiet = quiet + 1 if spent < quiet_ms else 0
        if quiet >= quiet_intervals:
            return True
        previous = current
    return False


# --- the machine and the commit --------------------------------------------------------------


def parse_cpuinfo(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or "unknown"


def parse_os_release(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "unknown"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _package_version(name: str) -> str | None:
    try:
        return json.loads((ROOT / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def node_binary() -> str:
    node = ROOT / "node_modules" / ".bin" / "node"
    return str(node) if node.exists() else "node"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS and the versions of what the benchmarks run on."""
    try:
        node = subprocess.run(
            [node_binary(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        node = "unknown"
    meminfo = _read(PROC / "meminfo")
    memory = None
    if meminfo:
        try:
            memory = parse_status_bytes(meminfo, "MemTotal")
        except (KeyError, ValueError):
            memory = None
    return {
        "cpu": parse_cpuinfo(_read(PROC / "cpuinfo")),
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "os": f"{parse_os_release(_read(Path('/etc/os-release')))}, "
        f"{platform.system()} {platform.release()} {platform.machine()}",
        "python_driver": platform.python_version(),
        "node": node,
        "pyodide": _package_version("pyodide"),
        "miniflare": _package_version("miniflare"),
        "workerd": _package_version("workerd"),
        "python_in_worker": None,  # filled from a runtime's warm-up answer
    }


BENCH_MODULES = (
    "harness",
    "sites",
    "goals",
    "report",
    "run_all",
    "cold_render",
    "warm_hit",
    "scale_runtime",
    "memory_budget",
    "concurrency",
    "scale",
    "synthetic_site",
)


def git_info(include_sources: bool = True) -> dict[str, Any]:
    """The commit, and whether files the benchmarks run differ from it (`include_sources`
    False: src/, scripts/ and wrangler.toml come from the commit itself, so only the
    runtime and the benchmarks' own modules count)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    # Dirty when what the benchmarks run differs from the commit (not other files).
    used = ["runtime", "package-lock.json"]
    if include_sources:
        used += list(SNAPSHOT_PATHS)
    used += [f"bench/{name}.py" for name in BENCH_MODULES]
    changed = git("status", "--porcelain", "--", *used)
    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "subject": git("log", "-1", "--format=%s")[:120],
        "dirty": bool(changed),
    }


# --- projects --------------------------------------------------------------------------------


def wrangler_toml_for(text: str, *, assets_dir: Path | None = None, **variables: str) -> str:
    """The repository's wrangler.toml with the [assets] directory made absolute (or
    pointed elsewhere) and [vars] values set, every other line kept as it is."""
    lines = text.splitlines()
    section = ""
    seen: set[str] = set()
    vars_end: int | None = None
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if section == "vars":
                vars_end = len(out)
            section = stripped.strip("[]").strip()
        key = stripped.split("=", 1)[0].strip() if "=" in stripped else ""
        if section == "assets" and key == "directory" and assets_dir is not None:
            line = f"directory = {json.dumps(str(assets_dir))}"
        elif section == "vars" and key in variables:
            line = f"{key} = {json.dumps(str(variables[key]))}"
            seen.add(key)
        out.append(line)
    if section == "vars":
        vars_end = len(out)
    missing = [k for k in variables if k not in seen]
    if missing:
        added = [f"{k} = {json.dumps(str(variables[k]))}" for k in missing]
        if vars_end is None:
            out += ["", "[vars]", *added]
        else:
            out[vars_end:vars_end] = added
    return "\n".join(out) + "\n"


SNAPSHOT_PATHS = ("src", "scripts", "wrangler.toml")


def snapshot_sources(into: Path, ref: str | None = "HEAD") -> Path:
    """Copy src/, scripts/ and wrangler.toml as of git `ref` (None: the working tree) into
    `into`, and make every later project, build and layout use them."""
    global SOURCE
    into.mkdir(parents=True, exist_ok=True)
    if ref is not None:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, *SNAPSHOT_PATHS],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(into, filter="data")
    else:
        for name in SNAPSHOT_PATHS:
            if (ROOT / name).is_dir():
                shutil.copytree(
                    ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy2(ROOT / name, into / name)
    SOURCE = into
    return into


def source_dir() -> Path:
    """The Worker's src/ the benchmarks serve (see SOURCE)."""
    return SOURCE / "src"


def copy_src(source: Path, into: Path) -> Path:
    shutil.copytree(source, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return into


def make_project(
    into: Path,
    *,
    src: Path,
    assets_dir: Path | None = None,
    **variables: str,
) -> Path:
    """A project root for the runtime: the snapshot's wrangler.toml (copied, with
    [assets] directory and [vars] set as asked), a copy of `src` (a snapshot: edits in
    the working tree during a run do not leak in), the vendored SDK linked in. Without
    `assets_dir`, `into/public` is made and used."""
    into.mkdir(parents=True, exist_ok=True)
    if assets_dir is None:
        assets_dir = into / "public"
        assets_dir.mkdir(exist_ok=True)
    toml = wrangler_toml_for(
        (SOURCE / "wrangler.toml").read_text(), assets_dir=assets_dir.resolve(), **variables
    )
    (into / "wrangler.toml").write_text(toml)
    copy_src(src, into / "src")
    modules = into / "python_modules"
    if not modules.exists():
        modules.symlink_to(ROOT / "python_modules", target_is_directory=True)
    return into


CONSTANT_ENTRY = '''"""The smallest Python Worker: a constant body (the benchmarks' baseline)."""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
'''


def constant_src(into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    (into / "entry.py").write_text(CONSTANT_ENTRY)
    return into


SAME_RESPONSE_ENTRY = '''"""A constant Worker answering a page's exact bytes and headers (the warm
benchmark's second baseline): the response is made into JS objects once, at import, so
a request costs the least Python a Worker can spend on this payload."""

import js
from pyodide.ffi import to_js
from workers import WorkerEntrypoint

from constant_response import BODY, HEADERS, STATUS

_BODY = to_js(BODY)
_INIT = to_js(
    {"status": STATUS, "headers": list(HEADERS.items())}, dict_converter=js.Object.fromEntries
)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return js.Response.new(_BODY, _INIT)
'''

# Set by the transport, not by the Worker.
_TRANSPORT_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date"})


def same_response_src(into: Path, *, status: int, headers: dict[str, str], body: bytes) -> Path:
    """The source of a Worker that always answers `status`, `headers` and `body`."""
    into.mkdir(parents=True, exist_ok=True)
    kept = {k: v for k, v in headers.items() if k.lower() not in _TRANSPORT_HEADERS}
    (into / "constant_response.py").write_text(
        f"STATUS = {status!r}\nHEADERS = {kept!r}\nBODY = {body!r}\n"
    )
    (into / "entry.py").write_text(SAME_RESPONSE_ENTRY)
    return into


def public_files(into: Path) -> Path:
    """The example site's public files (not its __prerender copy) into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    for item in (ROOT / "public").iterdir():
        if item.name != "__prerender" and item.is_file():
            shutil.copy2(item, into / item.name)
    return into


def run_script(script: str, *args: str | Path) -> str:
    """Run a script of the snapshot (`scripts/...`, which imports the snapshot's src/) with
    this Python; its output, or an error with it."""
    result = subprocess.run(
        [sys.executable, str(SOURCE / script), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{script} {' '.join(map(str, args))} exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result.stdout


def example_build(out: Path, assets_dir: Path, layout: str = "sharded") -> None:
    """Prerender the example site into `out`, then lay it out in `assets_dir`."""
    run_script("scripts/prerender.py", "--out", out)
    run_script("scripts/copy_prerender.py", out, assets_dir, "--layout", layout)


def source_digest(paths: Iterable[Path]) -> str:
    """A short digest of files' contents: part of cache keys, so a build made by an
    older generator or layout is not reused."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        for base in (SOURCE, ROOT):
            if path.is_relative_to(base):
                name = path.relative_to(base).as_posix()
                break
        else:
            name = path.name
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_key(kind: str, params: dict[str, Any], sources: Iterable[Path]) -> str:
    """A directory name for a cached artifact: its kind, parameters and sources' digest."""
    parts = [kind, *(f"{k}{v}" for k, v in sorted(params.items())), source_digest(sources)]
    return "-".join(str(p).replace("/", "_").replace(" ", "") for p in parts)


# --- the runtime -----------------------------------------------------------------------------


class BenchRuntime:
    """The local runtime in test mode serving `root`, with its control API."""

    def __init__(self, root: Path, log_path: Path) -> None:
        self.root = root
        self.process = LocalRuntimeProcess(root, log_path)
        self.warmup_info: dict[str, Any] | None = None

    def __enter__(self) -> BenchRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        self.process.start()
        self.warmup_info = self.control("POST", "/warmup")
        _note_python(self.warmup_info)
        log(f"runtime for {self.root.name} ready in {time.monotonic() - started:.1f} s")

    def stop(self) -> None:
        self.process.stop()

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def node_pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def control(self, method: str, path: str, payload: Any = None, timeout: float = 600) -> Any:
        return control_request(self.process.control, method, path, payload, timeout=timeout)

    def restart(self) -> dict[str, Any]:
        info = self.control("POST", "/restart")
        warm = info.get("warmup") or {}
        if not warm.get("ok"):
            raise RuntimeError(f"the Worker failed to start after restart: {warm}")
        self.warmup_info = warm
        _note_python(warm)
        return info

    def asset_log(self) -> list[dict[str, Any]]:
        return self.control("GET", "/asset-log")

    def reset_asset_log(self) -> None:
        self.control("DELETE", "/asset-log")

    def python_log(self) -> dict[str, list[dict[str, Any]]]:
        return self.control("GET", "/python-log")

    def evaluate(self, code: str) -> Any:
        return self.control("POST", "/eval", {"code": code})["value"]

    def workerd_pid(self) -> int:
        return find_workerd(self.node_pid)

    def get(self, path: str, timeout: float = 60) -> HttpResponse:
        return http_request(self.url, "GET", path, timeout=timeout)


def _note_python(warmup: dict[str, Any] | None) -> None:
    global WORKER_PYTHON
    if warmup and warmup.get("python"):
        WORKER_PYTHON = str(warmup["python"]).split(" (")[0]


# Python's heap inside the isolate: dlmalloc's mallinfo() in Pyodide's wasm memory
# (`uordblks`: bytes in use; `arena`: bytes taken from the wasm heap) and the size of that
# linear memory, read with the runtime's test-mode eval. Precise where workerd's RSS is not
# (RSS also holds V8's heap, collected lazily, and the whole process).
PYTHON_HEAP = """
import pyodide_js
m = pyodide_js._module
p = m._malloc(40)
m._mallinfo(p)
v = [m.HEAP32[p // 4 + i] for i in range(10)]
m._free(p)
{"in_use": v[7] + v[4], "arena": v[0], "linear_memory": m.HEAP8.length}
"""


def python_heap(runtime: BenchRuntime) -> dict[str, int]:
    return runtime.evaluate(PYTHON_HEAP)


@dataclass
class ColdRequest:
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
    heap_after: int | None = None  # Python heap in use after the request (see PYTHON_HEAP)
    assets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rss_growth(self) -> int:
        return self.rss_after - self.rss_before


def cold_request(
    runtime: BenchRuntime, path: str, *, restart: bool = True, heap: bool = False
) -> ColdRequest:
    """The first request of a fresh isolate: restart (Python loaded first, as a new isolate
    does before its first request), wait until workerd is idle, read its CPU and RSS, send
    the request, wait until idle again (so work left in ctx.waitUntil counts), read them
    again, then the asset log and any Python errors (since the restart). With
    `restart=False`, the same for a request to the running isolate (its asset log only).
    With `heap`, Python's heap in use is read after all that (never before the request:
    the eval would run code paths the request would otherwise run first)."""
    if restart:
        runtime.restart()
    else:
        runtime.reset_asset_log()
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
    assets = runtime.asset_log()
    heap_after = python_heap(runtime)["in_use"] if heap else None
    return ColdRequest(
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
        errors=runtime.python_log().get("errors", []),
    )


# --- load ------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    cache_statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run_load(
    base_url: str,
    paths: Sequence[str],
    *,
    concurrency: int,
    total: int | None = None,
    max_seconds: float | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 0,
) -> LoadResult:
    """Send `total` requests (default: one per path, in order; paths repeat when `total`
    is larger) from `concurrency` threads, each on its own keep-alive connection over
    loopback. Stops early after `max_seconds`. Latency is measured per request, from
    sending it to reading the whole body."""
    total = len(paths) if total is None else total
    if concurrency < 1 or total < 0 or not paths:
        raise ValueError("need concurrency >= 1, total >= 0 and at least one path")
    parts = urlsplit(base_url)
    counter = itertools.count()
    lock = threading.Lock()
    result = LoadResult()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        cache: Counter[str] = Counter()
        errors = 0
        try:
            while True:
                n = next(counter)
                if n >= total or (deadline is not None and time.monotonic() > deadline):
                    break
                path = paths[n % len(paths)]
                started = time.perf_counter()
                response = None
                # A keep-alive connection the server closed fails on reuse: retry once on a
                # fresh one (as HTTP clients do); a second failure is an error.
                for _attempt in range(2):
                    try:
                        conn.request("GET", path)
                        response = conn.getresponse()
                        response.read()
                        break
                    except (OSError, http.client.HTTPException):
                        response = None
                        conn.close()
                        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                if response is None:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status] += 1
                cache[response.getheader("x-cache-status") or "-"] += 1
                if progress_every and on_progress and (n + 1) % progress_every == 0:
                    on_progress(n + 1)
        finally:
            conn.close()
            with lock:
                result.latencies_ms.extend(latencies)
                result.statuses.update(statuses)
                result.cache_statuses.update(cache)
                result.errors += errors

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed_s = time.monotonic() - started
    return result


def concurrent_gets(base_url: str, path: str, count: int, timeout: float = 120) -> list[int]:
    """`count` GETs of `path` released together (a barrier), each on its own connection;
    their statuses (0 for a failed request)."""
    barrier = threading.Barrier(count)
    statuses = [0] * count

    def one(i: int) -> None:
        parts = urlsplit(base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.connect()
            barrier.wait(timeout)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            statuses[i] = response.status
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError):
            statuses[i] = 0
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


# --- results ---------------------------------------------------------------------------------


def write_result(name: str, payload: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
    return path

"""workerd seen from /proc: its process under the runtime's Node process, the CPU time of
its threads (schedstat, ns), its RSS, and "wait until idle" (background compilation, a
regeneration in ctx.waitUntil) so a measurement includes the work a request leaves behind.

Linux only. The parsers are unit-tested in tests/unit/test_bench_procfs.py against
fabricated /proc trees.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


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

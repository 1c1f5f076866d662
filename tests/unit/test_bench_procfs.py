"""bench/procfs.py: workerd's process, its threads' CPU time and its RSS, from /proc
trees made up for the test: the readings every CPU figure is a difference of."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.procfs import (
    CpuSample,
    cpu_delta_ms,
    cpu_sample,
    descendants,
    find_workerd,
    parse_schedstat,
    parse_stat,
    parse_status_bytes,
    rss_bytes,
)

STAT_TAIL = "S {ppid} 1 1 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 8 0 {start} 1 1"


def _stat(pid: int, comm: str, ppid: int, utime: int = 0, stime: int = 0, start: int = 0) -> str:
    tail = STAT_TAIL.format(ppid=ppid, utime=utime, stime=stime, start=start)
    return f"{pid} ({comm}) {tail}\n"


def test_parse_stat_takes_names_with_spaces_and_parentheses() -> None:
    stat = parse_stat(_stat(42, "V8 Default) (x", 7, utime=120, stime=30, start=999))
    assert (stat.pid, stat.comm, stat.state, stat.ppid) == (42, "V8 Default) (x", "S", 7)
    assert (stat.utime_ticks, stat.stime_ticks, stat.start_ticks) == (120, 30, 999)
    real = (Path("/proc/self/stat")).read_text()
    assert parse_stat(real).comm  # the real format parses too


def test_parse_schedstat_and_status() -> None:
    assert parse_schedstat("85867 1111938 2\n") == 85867
    status = "Name:\tworkerd\nVmPeak:\t  300 kB\nVmRSS:\t  231560 kB\nThreads:\t4\n"
    assert parse_status_bytes(status) == 231560 * 1024
    assert parse_status_bytes("MemTotal:       24684544 kB\n", "MemTotal") == 24684544 * 1024
    with pytest.raises(KeyError):
        parse_status_bytes(status, "VmSwap")


def _fake_proc(
    root: Path,
    pid: int,
    comm: str,
    ppid: int,
    *,
    start: int = 0,
    threads: dict[int, tuple[str, int]] | None = None,
    ticks: int = 0,
) -> None:
    directory = root / str(pid)
    (directory / "task").mkdir(parents=True)
    (directory / "stat").write_text(_stat(pid, comm, ppid, utime=ticks, start=start))
    (directory / "status").write_text("Name:\tx\nVmRSS:\t  1000 kB\n")
    for tid, (name, ns) in (threads or {pid: (comm, 0)}).items():
        (directory / "task" / str(tid)).mkdir()
        (directory / "task" / str(tid) / "comm").write_text(name + "\n")
        (directory / "task" / str(tid) / "schedstat").write_text(f"{ns} 0 0\n")


def test_find_workerd_among_descendants_picks_the_newest(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 100, "node", 1)
    _fake_proc(tmp_path, 101, "workerd", 100, start=50)
    _fake_proc(tmp_path, 102, "workerd", 100, start=90)  # after a restart
    _fake_proc(tmp_path, 103, "sh", 100)
    _fake_proc(tmp_path, 104, "workerd", 103, start=10)  # a grandchild counts too
    _fake_proc(tmp_path, 200, "workerd", 1, start=99)  # someone else's
    (tmp_path / "self").mkdir()  # not a pid
    assert sorted(s.pid for s in descendants(100, tmp_path)) == [101, 102, 103, 104]
    assert find_workerd(100, tmp_path) == 102
    with pytest.raises(RuntimeError):
        find_workerd(103 + 1000, tmp_path)


def test_cpu_samples_per_thread_and_deltas(tmp_path: Path) -> None:
    _fake_proc(
        tmp_path,
        10,
        "workerd",
        1,
        ticks=5,
        threads={10: ("workerd", 1_000_000), 11: ("V8 DefaultWorke", 500_000)},
    )
    before = cpu_sample(10, tmp_path)
    assert before.main_ns == 1_000_000 and before.total_ns == 1_500_000 and before.ticks == 5
    after = CpuSample(
        10, {10: ("workerd", 4_000_000), 11: ("V8", 2_500_000), 12: ("new", 1_000_000)}, 6
    )
    assert cpu_delta_ms(before, after) == {"main": 3.0, "process": 6.0}
    # A thread that ended took its time with it: fall back to utime+stime (ticks).
    ended = CpuSample(10, {10: ("workerd", 1_500_000)}, 9)
    delta = cpu_delta_ms(before, ended, hz=100)
    assert delta["main"] == 0.5 and delta["process"] == 40.0
    with pytest.raises(ValueError):
        cpu_delta_ms(before, CpuSample(11, {}, 0))
    assert rss_bytes(10, tmp_path) == 1000 * 1024

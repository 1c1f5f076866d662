"""bench/harness.py and bench/sites.py: statistics, /proc parsing, projects, the load loop
and the site cache. No runtime needed."""

from __future__ import annotations

import http.server
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import harness, sites
from bench.harness import (
    CpuSample,
    cache_key,
    concurrent_gets,
    cpu_delta_ms,
    cpu_sample,
    descendants,
    find_workerd,
    parse_cpuinfo,
    parse_os_release,
    parse_schedstat,
    parse_stat,
    parse_status_bytes,
    percentile,
    run_load,
    summarize,
    wrangler_toml_for,
)

ROOT = Path(__file__).resolve().parents[2]


# --- statistics --------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([4, 1, 3, 2], 0) == 1 and percentile([4, 1, 3, 2], 100) == 4
    assert percentile([7], 95) == 7
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 95) == pytest.approx(95.05)
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summarize_counts_runs_and_handles_no_values() -> None:
    summary = summarize([3, 1, 2])
    assert summary == {
        "median": 2,
        "p95": pytest.approx(2.9),
        "runs": 3,
        "min": 1,
        "max": 3,
        "mean": 2,
    }
    assert summarize([]) == {
        "median": None,
        "p95": None,
        "runs": 0,
        "min": None,
        "max": None,
        "mean": None,
    }
    row = harness.figure("x.y", "label", "ms", [1.0, 2.0], "note")
    assert row["id"] == "x.y" and row["runs"] == 2 and row["note"] == "note"


# --- /proc -------------------------------------------------------------------------------------

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
    assert harness.rss_bytes(10, tmp_path) == 1000 * 1024


def test_machine_description_parsers() -> None:
    assert parse_cpuinfo("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    assert parse_os_release('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == (
        "Debian GNU/Linux 12 (bookworm)"
    )
    info = harness.machine_info()
    assert info["cores"] and info["python_driver"] and "cpu" in info


# --- projects and caches ------------------------------------------------------------------------


def test_wrangler_toml_copy_changes_only_the_assets_dir_and_vars(tmp_path: Path) -> None:
    original = (ROOT / "wrangler.toml").read_text()
    text = wrangler_toml_for(original, assets_dir=tmp_path / "pub", SEED_INDEX="manifest")
    config = tomllib.loads(text)
    source = tomllib.loads(original)
    assert config["assets"]["directory"] == str(tmp_path / "pub")
    assert config["vars"]["SEED_INDEX"] == "manifest"
    assert config["vars"]["SEED_CACHE_MAX_BYTES"] == source["vars"]["SEED_CACHE_MAX_BYTES"]
    for key in ("name", "main", "compatibility_date", "compatibility_flags"):
        assert config[key] == source[key]
    assert {k: v for k, v in config["assets"].items() if k != "directory"} == {
        k: v for k, v in source["assets"].items() if k != "directory"
    }
    changed = [a for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b]
    assert len(changed) == 2  # the directory line and the SEED_INDEX line
    # A var the file lacks is added to [vars]; no [vars] at all makes one.
    assert tomllib.loads(wrangler_toml_for(original, NEW_VAR="1"))["vars"]["NEW_VAR"] == "1"
    bare = 'name = "x"\n[assets]\ndirectory = "./public"\n'
    assert tomllib.loads(wrangler_toml_for(bare, A="b"))["vars"] == {"A": "b"}
    assert wrangler_toml_for(bare) == bare


def test_make_project_snapshots_src(tmp_path: Path) -> None:
    src = harness.constant_src(tmp_path / "src-in")
    project = harness.make_project(tmp_path / "p", src=src, SEED_INDEX="manifest")
    assert (project / "src" / "entry.py").read_text() == harness.CONSTANT_ENTRY
    assert (project / "python_modules").is_symlink()
    config = tomllib.loads((project / "wrangler.toml").read_text())
    assert config["assets"]["directory"] == str((project / "public").resolve())
    assert config["vars"]["SEED_INDEX"] == "manifest"
    compile(harness.CONSTANT_ENTRY, "entry.py", "exec")


def test_same_response_worker_answers_the_pages_bytes_without_transport_headers(
    tmp_path: Path,
) -> None:
    body = b"<html>\x00\xff caf\xc3\xa9</html>"
    headers = {"content-type": "text/html", "etag": '"e"', "content-length": "25", "date": "x"}
    src = harness.same_response_src(tmp_path / "same", status=200, headers=headers, body=body)
    namespace: dict = {}
    exec((src / "constant_response.py").read_text(), namespace)
    assert namespace["BODY"] == body and namespace["STATUS"] == 200
    assert namespace["HEADERS"] == {"content-type": "text/html", "etag": '"e"'}
    compile((src / "entry.py").read_text(), "entry.py", "exec")


def test_sources_snapshot_from_the_commit_or_the_working_tree(tmp_path: Path, monkeypatch) -> None:
    import subprocess

    monkeypatch.setattr(harness, "SOURCE", harness.SOURCE)  # restored after the test
    head = harness.snapshot_sources(tmp_path / "head", "HEAD")
    committed = subprocess.run(
        ["git", "show", "HEAD:src/entry.py"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    assert (head / "src" / "entry.py").read_bytes() == committed
    assert (head / "scripts" / "prerender.py").is_file() and (head / "wrangler.toml").is_file()
    assert head == harness.SOURCE and harness.source_dir() == head / "src"
    project = harness.make_project(tmp_path / "p", src=harness.source_dir())
    assert (project / "src" / "entry.py").read_bytes() == committed
    tree = harness.snapshot_sources(tmp_path / "tree", None)
    assert (tree / "src" / "entry.py").read_bytes() == (ROOT / "src" / "entry.py").read_bytes()
    assert not list((tree / "src").rglob("__pycache__"))
    assert harness.source_dir() == tree / "src"


def test_cache_keys_follow_parameters_and_sources(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(harness, "ROOT", tmp_path)
    source = tmp_path / "gen.py"
    source.write_text("v1")
    one = cache_key("site", {"r": 10, "seed": 1}, [source])
    assert one == cache_key("site", {"seed": 1, "r": 10}, [source])
    assert one.startswith("site-r10-seed1-")
    assert one != cache_key("site", {"r": 11, "seed": 1}, [source])
    source.write_text("v2")
    assert one != cache_key("site", {"r": 10, "seed": 1}, [source])


def test_site_cache_makes_reuses_and_prunes(tmp_path: Path, monkeypatch) -> None:
    first = sites.synthetic_build(60, tmp_path)
    assert (first / "meta" / "manifest.json").is_file()
    stamp = (first / "meta" / "manifest.json").stat().st_mtime_ns
    assert sites.synthetic_build(60, tmp_path) == first  # reused, not rewritten
    assert (first / "meta" / "manifest.json").stat().st_mtime_ns == stamp
    assets = sites.synthetic_assets(60, "sharded", tmp_path)
    assert (assets / "__prerender" / "meta" / "build.json").is_file()
    assert sites.layout_method(assets) == "copy_prerender"
    manifest = sites.synthetic_assets(60, "manifest", tmp_path)
    assert (manifest / "__prerender" / "meta" / "manifest.json").is_file()
    # A change to the generator makes a new build and removes the stale one.
    monkeypatch.setattr(harness, "source_digest", lambda paths: "other")
    second = sites.synthetic_build(60, tmp_path)
    assert second != first and not first.exists()
    with pytest.raises(ValueError):
        sites.synthetic_assets(60, "both", tmp_path)


def test_manifest_layout_over_the_file_limit_links_the_build(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sites, "PAID_PLAN_FILES", 10)  # as if 60 routes were 100,000
    assets = sites.synthetic_assets(60, "manifest", tmp_path)
    build = sites.synthetic_build(60, tmp_path)
    built = sorted(p.relative_to(build) for p in build.rglob("*") if p.is_file())
    laid = sorted(
        p.relative_to(assets / "__prerender")
        for p in (assets / "__prerender").rglob("*")
        if p.is_file()
    )
    assert laid == built
    some = built[-1]
    assert (assets / "__prerender" / some).stat().st_ino == (build / some).stat().st_ino
    assert sites.layout_method(assets).startswith("hard links")


# --- the load loop ------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        body = b"missing" if self.path == "/missing" else b"ok"
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-cache-status", "HIT")
        self.end_headers()
        self.wfile.write(body)
        self.server.paths.append(self.path)  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", httpd  # type: ignore[misc]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_run_load_sends_the_bounded_count_over_keep_alive(server) -> None:
    url, httpd = server
    result = run_load(url, ["/a", "/b", "/missing"], concurrency=4, total=30)
    assert result.requests == 30 and result.errors == 0
    assert result.statuses == {200: 20, 404: 10}
    assert result.cache_statuses == {"HIT": 30}
    assert sorted(set(httpd.paths)) == ["/a", "/b", "/missing"]
    assert result.rps > 0 and all(ms >= 0 for ms in result.latencies_ms)
    # One per path by default, and each path once.
    httpd.paths.clear()
    once = run_load(url, [f"/p{i}" for i in range(25)], concurrency=8)
    assert once.requests == 25 and sorted(httpd.paths) == sorted(f"/p{i}" for i in range(25))
    with pytest.raises(ValueError):
        run_load(url, [], concurrency=1)


def test_run_load_stops_at_its_time_limit(server) -> None:
    url, _ = server
    result = run_load(url, ["/a"], concurrency=2, total=10**9, max_seconds=0.3)
    assert 0 < result.requests < 10**9 and result.elapsed_s < 5


def test_concurrent_gets_releases_all_together(server) -> None:
    url, httpd = server
    assert concurrent_gets(url, "/x", 20) == [200] * 20
    assert httpd.paths.count("/x") == 20
    assert concurrent_gets("http://127.0.0.1:9/", "/x", 3, timeout=2) == [0, 0, 0]

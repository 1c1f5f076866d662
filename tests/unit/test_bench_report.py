"""bench/report.py (RESULTS.md from bench/results/) and bench/run_all.py's command line,
lock and parameters. No runtime needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report, run_all

ROOT = Path(__file__).resolve().parents[2]


def _payload(name: str, status: str = "PASS") -> dict:
    return {
        "benchmark": name,
        "title": f"title of {name}",
        "params": {"n": 3},
        "figures": [
            {
                "id": f"{name}.x",
                "label": "latency",
                "unit": "ms",
                "median": 12.345,
                "p95": 20.0,
                "runs": 3,
                "note": "a | note",
            },
            {
                "id": f"{name}.b",
                "label": "bytes",
                "unit": "B",
                "median": 44_420,
                "p95": None,
                "runs": 1,
                "note": "",
            },
        ],
        "goals": [{"id": name, "label": f"goal {name}", "status": status, "detail": "why"}],
        "notes": [f"note of {name}"],
        "problems": [],
        "meta": {
            "command": ".venv/bin/python bench/run_all.py",
            "quick": False,
            "finished": "2026-11-24 21:00",
            "duration_s": 90,
            "commit": {"commit": "abcdef1234567890", "dirty": False},
            "machine": {
                "cpu": "AMD EPYC",
                "cores": 2,
                "memory_bytes": 24 * 2**30,
                "os": "Debian",
                "python_driver": "3.11.7",
                "node": "v22",
                "pyodide": "314.0.7",
                "python_in_worker": "3.14.2",
            },
        },
    }


def test_format_value_by_unit() -> None:
    assert report.format_value(None, "ms") == "-"
    assert report.format_value(1.234, "ms") == "1.23"
    assert report.format_value(12.34, "ms") == "12.3"
    assert report.format_value(1234.5, "ms") == "1,234"
    assert report.format_value(512, "B") == "512 B"
    assert report.format_value(44_420, "B") == "43.4 KiB"
    assert report.format_value(33_554_432, "B") == "32.00 MiB"
    assert report.format_value(-3 * 2**20, "B") == "-3.00 MiB"
    assert report.format_value(3.0, "count") == "3" and report.format_value(2.5, "count") == "2.5"
    assert report.format_value(612.7, "req/s") == "613"


def test_results_page_orders_benchmarks_and_appends_other_sections(tmp_path: Path) -> None:
    for name in ("concurrency", "cold", "memory"):
        (tmp_path / f"{name}.json").write_text(
            json.dumps(_payload(name, "FAIL" if name == "memory" else "PASS"))
        )
    (tmp_path / "load.json").write_text("{}")  # someone else's: not a known benchmark
    (tmp_path / "zz.md").write_text("## Z section\n\nlast\n")
    (tmp_path / "load.md").write_text("## Load with faults\n\nbody\n")
    out = tmp_path / "RESULTS.md"
    text = report.assemble(tmp_path, out)
    assert out.read_text() == text
    order = [text.index(f"## title of {n}") for n in ("cold", "memory", "concurrency")]
    assert order == sorted(order)
    assert text.index("## Load with faults") < text.index("## Z section")
    assert text.index("## title of concurrency") < text.index("## Load with faults")
    assert "| goal memory | **FAIL** | why |" in text
    assert "| goal cold | **PASS** | why |" in text
    assert "| latency | 12.3 | 20.0 | 3 | ms | a \\| note |" in text
    assert "`.venv/bin/python bench/run_all.py`" in text
    assert "AMD EPYC, 2 cores" in text and "3.14.2" in text and "abcdef1234" in text
    assert report.assemble(tmp_path, out) == text  # stable


def test_results_page_without_results(tmp_path: Path) -> None:
    (tmp_path / "load.md").write_text("## Load\n")
    text = report.render(report.load_results(tmp_path), report.extra_sections(tmp_path))
    assert "No results yet" in text and text.rstrip().endswith("## Load")


def test_flock_parent_detection() -> None:
    assert run_all.flock_target([b"flock", b"/tmp/bench.lock", b".venv/bin/python", b""]) == (
        "/tmp/bench.lock"
    )
    waits = [b"/usr/bin/flock", b"-w", b"30", b"/tmp/x.lock", b"cmd"]
    assert run_all.flock_target(waits) == "/tmp/x.lock"
    assert run_all.flock_target([b"/usr/bin/flock", b"-x", b"/tmp/x.lock", b"cmd"]) == "/tmp/x.lock"
    assert run_all.flock_target([b"bash", b"-c", b"flock"]) is None
    assert run_all.flock_target([]) is None


def test_lock_is_taken_and_released(tmp_path: Path) -> None:
    import fcntl

    lock = tmp_path / "bench.lock"
    with (
        run_all.bench_lock(lock, True),
        lock.open("a") as other,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with lock.open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
    with run_all.bench_lock(tmp_path / "unused.lock", False):
        pass
    assert not (tmp_path / "unused.lock").exists()


def test_parameters_quick_full_and_overrides() -> None:
    full = run_all.params_for(run_all.parse_args([]))
    assert full["isolates"] >= 30 and full["memory_requests"] == 100_000
    assert full["scales"] == [1_000, 10_000, 100_000]
    assert full["warm_requests"] == 2_000 and full["concurrency"] == 8
    quick = run_all.params_for(run_all.parse_args(["--quick"]))
    assert quick["memory_requests"] == 5_000 and quick["isolates"] < full["isolates"]
    custom = run_all.params_for(
        run_all.parse_args(["--quick", "--isolates", "7", "--memory-routes", "1000"])
    )
    assert custom["isolates"] == 7 and custom["memory_requests"] == 1000  # capped by routes
    with pytest.raises(SystemExit):
        run_all.parse_args(["--only", "cold,nope"])


def test_run_all_help_and_usage_errors() -> None:
    script = str(ROOT / "bench" / "run_all.py")
    help_text = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--quick" in help_text and "--only" in help_text and "Exit codes" in help_text
    bad = subprocess.run([sys.executable, script, "--only", "x"], capture_output=True, text=True)
    assert bad.returncode == 2
    report_help = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "report.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--results" in report_help

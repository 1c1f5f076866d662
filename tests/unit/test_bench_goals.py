"""bench/goals.py and the benchmarks' summaries: the arithmetic that turns measured figures
into PASS, FAIL or N/A on bench/RESULTS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import concurrency, memory_budget, scale_runtime, warm_hit
from bench.cold_seed import paired_net, python_cpu
from bench.goals import (
    budget_goal,
    files_goal,
    flat_goal,
    floor_goal,
    renders_per_window_goal,
    single_fetch_goal,
    stable_ratio_goal,
    unlisted_goal,
)
from bench.load import LoadResult
from bench.local import MeasuredRequest
from bench.scale import FileBudget


def test_a_seed_passes_at_exactly_the_floor_limit_and_fails_above_it() -> None:
    assert floor_goal("a", "a", 13.0, 10.0, 1.3)["status"] == "PASS"
    failed = floor_goal("a", "a", 13.1, 10.0, 1.3)
    assert failed["status"] == "FAIL" and "1.31x" in failed["detail"]
    assert floor_goal("a", "a", None, 10.0, 1.3)["status"] == "N/A"


def test_a_floor_at_or_below_the_baseline_cannot_be_passed() -> None:
    assert floor_goal("a", "a", 1.0, 0.0, 1.3)["status"] == "FAIL"
    assert floor_goal("a", "a", 1.0, -0.5, 1.3)["status"] == "FAIL"


def test_python_cpu_subtracts_the_constant_workers_median() -> None:
    def sample(cpu: float) -> MeasuredRequest:
        return MeasuredRequest("/", 200, "", 1.0, cpu, cpu, 0, 0, True)

    samples = {
        "constant": [sample(10), sample(12), sample(30)],
        "seeded": [sample(15), sample(16)],
    }
    assert python_cpu(samples) == {"constant": [-2, 0, 18], "seeded": [3, 4]}
    assert python_cpu({"constant": [], "seeded": [sample(1)]}) == {"constant": [], "seeded": []}


def test_the_steady_measure_subtracts_the_constant_worker_block_by_block() -> None:
    cpu = {"constant": [1.5, 1.0], "floor": [2.5, 2.2], "seeded": [2.8, 2.4]}
    assert paired_net(cpu, "floor") == [1.0, pytest.approx(1.2)]
    assert paired_net(cpu, "seeded") == [pytest.approx(1.3), pytest.approx(1.4)]


def test_the_warm_path_must_hold_in_every_one_of_three_runs() -> None:
    good = [(1.05, 1.0), (1.10, 1.0), (0.9, 1.0)]
    assert stable_ratio_goal("b2", "b2", good, 1.10)["status"] == "PASS"
    one_bad = [(1.05, 1.0), (1.11, 1.0), (0.9, 1.0)]
    assert stable_ratio_goal("b2", "b2", one_bad, 1.10)["status"] == "FAIL"
    too_few = stable_ratio_goal("b2", "b2", good[:2], 1.10)
    assert too_few["status"] == "FAIL" and "only 2 run(s)" in too_few["detail"]
    assert stable_ratio_goal("b2", "b2", [], 1.10)["status"] == "N/A"


def test_the_warm_ratio_is_taken_round_by_round() -> None:
    def result(*latencies: float) -> LoadResult:
        return LoadResult(latencies_ms=list(latencies))

    serial = {"constant": [result(1, 2, 3), result(4)], "page": [result(2, 3, 4), result(2)]}
    assert warm_hit.serial_ratios(serial, "page") == [1.5, 0.5]


def test_flat_means_every_cost_within_1_2x_and_one_fetch_each() -> None:
    small = {"latency ms": 10.0, "bytes": 1000.0}
    kwargs: dict[str, Any] = {"small_routes": 1000, "large_routes": 100_000}
    assert (
        flat_goal("c", "c", small, {"latency ms": 12, "bytes": 1100}, **kwargs)["status"] == "PASS"
    )
    assert (
        flat_goal("c", "c", small, {"latency ms": 12.1, "bytes": 1000}, **kwargs)["status"]
        == "FAIL"
    )
    assert (
        flat_goal("c", "c", small, {"latency ms": 10, "bytes": None}, **kwargs)["status"] == "FAIL"
    )
    one = flat_goal("c", "c", small, small, fetch_counts=[1, 1, 1], **kwargs)
    assert one["status"] == "PASS" and "3 of 3" in one["detail"]
    assert flat_goal("c", "c", small, small, fetch_counts=[1, 2], **kwargs)["status"] == "FAIL"
    assert flat_goal("c", "c", small, small, fetch_counts=[], **kwargs)["status"] == "FAIL"


def test_a_site_that_cannot_be_served_fails_flatness_unless_nothing_was_measured() -> None:
    why = "100,000 routes cannot be served"
    assert (
        flat_goal("c", "c", {}, {}, small_routes=0, large_routes=0, why_missing=why)["status"]
        == "FAIL"
    )
    assert flat_goal("c", "c", {}, {}, small_routes=0, large_routes=0)["status"] == "N/A"


def test_files_must_fit_each_plan() -> None:
    rows = [
        {"routes": 15_000, "layout": "packs", "files": 20_000, "limit": 20_000},
        {"routes": 100_000, "layout": "packs", "files": 42_000, "limit": 100_000},
    ]
    assert files_goal("f", "f", rows)["status"] == "PASS"
    rows[0]["files"] = 20_001
    assert files_goal("f", "f", rows)["status"] == "FAIL"
    assert files_goal("f", "f", [])["status"] == "N/A"


def test_unlisted_paths_pass_at_99_percent_without_a_fetch() -> None:
    assert unlisted_goal("u", 10, 1000, 100_000)["status"] == "PASS"
    assert unlisted_goal("u", 11, 1000, 100_000)["status"] == "FAIL"
    assert unlisted_goal("u", 0, 0, 0)["status"] == "N/A"


def _snap(**changes: Any) -> dict[str, Any]:
    snap = {"max_bytes": 100, "bytes": 50, "recount": 50, "peak": 60, "evictions": 0}
    return {**snap, **changes}


def test_the_budget_holds_only_if_peak_and_recount_stay_within_it() -> None:
    assert budget_goal([_snap(), _snap(peak=100)], 10, 10)["status"] == "PASS"
    assert budget_goal([_snap(), _snap(peak=101)], 10, 10)["status"] == "FAIL"
    assert budget_goal([_snap(bytes=50, recount=51)], 10, 10)["status"] == "FAIL"
    assert "stopped at the time limit" in budget_goal([_snap()], 5, 10)["detail"]
    assert budget_goal([], 0, 10)["status"] == "N/A"


def test_a_burst_passes_only_with_one_fetch_per_file_and_every_answer_200() -> None:
    row = {"statuses": {"200": 100}, "fetches_per_file": {"/__prerender/packs/3.bin": 1}}
    assert single_fetch_goal([row])["status"] == "PASS"
    assert single_fetch_goal([{**row, "fetches_per_file": {"/p": 2}}])["status"] == "FAIL"
    assert single_fetch_goal([{**row, "fetches_per_file": {}}])["status"] == "FAIL"
    assert single_fetch_goal([{**row, "statuses": {"200": 99, "500": 1}}])["status"] == "FAIL"


def test_renders_per_window_pass_at_1_1() -> None:
    assert renders_per_window_goal("s", 4, 11, 10)["status"] == "PASS"
    assert renders_per_window_goal("s", 4, 12, 10)["status"] == "FAIL"
    assert renders_per_window_goal("s", 4, 0, 0)["status"] == "N/A"


def _cell(routes: int, layout: str, ms: float, fetches: int = 1, unservable: str = "") -> dict:
    sample = {
        "wall_ms": ms,
        "cpu_main_ms": ms,
        "bytes": 1000,
        "fetches": fetches,
        "heap_growth": 7,
        "rss_growth": 5,
    }
    return {
        "routes": routes,
        "layout": layout,
        "files": 1,
        "samples": [] if unservable else [sample],
        "unservable": unservable or None,
        "cpython": {"bytes": 1, "kept_bytes": 1},
        "seed_bytes": [900, 1000, 1100],
    }


def test_the_scale_summary_compares_the_smallest_and_largest_servable_sites(
    tmp_path: Path, monkeypatch: Any
) -> None:
    budgets = [
        FileBudget(15_000, "packs", 6_000, 20_000),
        FileBudget(15_000, "manifest", 29_000, 20_000),
    ]
    monkeypatch.setattr(scale_runtime, "file_budgets", lambda counts: budgets)
    cells = [
        _cell(1000, "packs", 10),
        _cell(100_000, "packs", 11),
        _cell(1000, "manifest", 10, 2),
        _cell(10_000, "manifest", 30, 2),
        _cell(100_000, "manifest", 0, unservable="manifest.json is 54.5 MiB"),
    ]
    goals = {g["id"]: g for g in scale_runtime.summarize(cells, [1000, 100_000], 1)["goals"]}
    assert goals["c"]["status"] == "PASS"
    assert goals["c-baseline"]["status"] == "FAIL"
    assert "1,000 -> 10,000 routes" in goals["c-baseline"]["detail"]
    assert "54.5 MiB" in goals["c-baseline"]["detail"]
    assert goals["c-files"]["status"] == "PASS" and goals["c-files-baseline"]["status"] == "FAIL"
    assert goals["c-unlisted"]["status"] == "N/A"
    cells[1] = _cell(100_000, "packs", 11, fetches=2)
    goals = {g["id"]: g for g in scale_runtime.summarize(cells, [1000, 100_000], 1)["goals"]}
    assert goals["c"]["status"] == "FAIL"


def test_fetched_bytes_count_only_files_that_answered(tmp_path: Path) -> None:
    (tmp_path / "__prerender" / "packs").mkdir(parents=True)
    (tmp_path / "__prerender" / "packs" / "3.bin").write_bytes(b"x" * 300)
    fetches = [
        {"path": "/__prerender/packs/3.bin", "status": 200},
        {"path": "/__prerender/packs/4.bin", "status": 404},
    ]
    assert scale_runtime.fetched_bytes(tmp_path, fetches) == 300


def test_the_memory_summary_reads_peak_evictions_and_growth() -> None:
    first = {
        **_snap(),
        "entries": 1,
        "rejected": 0,
        "sets": 1,
        "asset_fetches": 1,
        "bytes_fetched": 5,
        "rss": 1000,
        "wasm_heap": 500,
        "python_heap": 400,
        "requests": 1,
        "t": 0,
        "hits": 0,
        "misses": 1,
    }
    last = {**first, "bytes": 90, "recount": 90, "peak": 95, "evictions": 7, "rss": 3000}
    load = LoadResult(latencies_ms=[1.0, 2.0, 3.0], elapsed_s=1.0)
    load.statuses.update({200: 2, 404: 1})
    result = memory_budget.summarize(
        [first, last],
        [load],
        first_status=200,
        budget=100,
        rss_start=1000,
        planned=4,
        done=4,
        routes=4,
        concurrency=2,
        errors=[],
    )
    by_id = {f["id"]: f for f in result["figures"]}
    assert by_id["d.peak"]["median"] == 95 and by_id["d.evictions"]["median"] == 7
    assert by_id["d.rss_growth"]["median"] == 2000
    assert result["goals"][0]["status"] == "PASS" and result["problems"] == []


def test_the_concurrency_summary_takes_the_most_fetched_file() -> None:
    rows = [
        {
            "path": "/blog/a",
            "statuses": {"200": 100},
            "fetches_per_file": {"/p": 1},
            "wall_ms": 500.0,
            "python_errors": 0,
        },
        {
            "path": "/blog/b",
            "statuses": {"200": 100},
            "fetches_per_file": {"/q": 2},
            "wall_ms": 400.0,
            "python_errors": 0,
        },
    ]
    result = concurrency.summarize(rows, 2, 100)
    assert {f["id"]: f["median"] for f in result["figures"]}["e.max_fetches"] == 1.5
    assert result["goals"][0]["status"] == "FAIL"


def test_d1_reads_allow_one_per_interval_per_isolate_plus_the_first() -> None:
    from bench.goals import d1_reads_goal

    assert d1_reads_goal("g", 4, 28, 30, 5)["status"] == "PASS"  # 4 x (6 + 1)
    assert d1_reads_goal("g", 4, 29, 30, 5)["status"] == "FAIL"


def test_memory_hits_allow_no_kv_and_one_background_d1_read_per_isolate() -> None:
    from bench.goals import memory_hits_goal

    assert memory_hits_goal("g", 0, 2, 100, 2)["status"] == "PASS"
    assert memory_hits_goal("g", 1, 0, 100, 2)["status"] == "FAIL"
    assert memory_hits_goal("g", 0, 3, 100, 2)["status"] == "FAIL"

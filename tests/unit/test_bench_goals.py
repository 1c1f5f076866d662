"""bench/goals.py: PASS/FAIL evaluation of the benchmark goals, and the summaries that feed
it (cold_render, scale_runtime, memory_budget, concurrency) from made-up measurements."""

from __future__ import annotations

from pathlib import Path

from bench import cold_render, concurrency, goals, memory_budget, scale_runtime
from bench.harness import ColdRequest, LoadResult


def test_seed_cpu_goal_is_a_quarter_of_the_render_path() -> None:
    assert goals.seed_cpu_goal(2.5, 10)["status"] == "PASS"
    assert goals.seed_cpu_goal(2.51, 10)["status"] == "FAIL"
    assert goals.seed_cpu_goal(None, 10)["status"] == "N/A"
    assert goals.seed_cpu_goal(1, 0)["status"] == "FAIL"  # nothing to be a quarter of
    detail = goals.seed_cpu_goal(3, 10)["detail"]
    assert "0.30x" in detail and "limit 2.5 ms" in detail


def test_warm_hit_goal_allows_fifteen_percent() -> None:
    assert goals.warm_hit_goal(11.5, 10)["status"] == "PASS"
    assert goals.warm_hit_goal(11.6, 10)["status"] == "FAIL"
    assert goals.warm_hit_goal(None, 10)["status"] == "N/A"
    assert goals.warm_hit_goal(1, 0)["status"] == "N/A"


def test_flat_goal_checks_every_cost_within_1_2x() -> None:
    small = {"latency ms": 10.0, "bytes": 1000.0, "memory B": 2.0}
    ok = goals.flat_goal(
        "c",
        "c",
        small,
        {"latency ms": 12.0, "bytes": 1100.0, "memory B": 1.0},
        small_routes=1000,
        large_routes=100_000,
    )
    assert ok["status"] == "PASS" and "1,000 -> 100,000 routes" in ok["detail"]
    bad = goals.flat_goal(
        "c",
        "c",
        small,
        {"latency ms": 12.1, "bytes": 1000.0, "memory B": 2.0},
        small_routes=1000,
        large_routes=100_000,
    )
    assert bad["status"] == "FAIL" and "latency ms 10 -> 12.1 (1.21x > 1.2x)" in bad["detail"]
    missing = goals.flat_goal("c", "c", small, {"latency ms": 1.0}, small_routes=1, large_routes=2)
    assert missing["status"] == "FAIL" and "bytes: missing" in missing["detail"]
    assert goals.flat_goal("c", "c", {}, {}, small_routes=0, large_routes=0)["status"] == "N/A"
    unservable = goals.flat_goal(
        "c", "c", {}, {}, small_routes=0, large_routes=0, why_missing="too big"
    )
    assert unservable == {"id": "c", "label": "c", "status": "FAIL", "detail": "too big"}
    # Compared up to the largest servable size, and still failed for the unservable one.
    partial = goals.flat_goal(
        "c",
        "c",
        small,
        small,
        small_routes=1,
        large_routes=2,
        why_missing="100,000 cannot be served",
    )
    assert partial["status"] == "PASS"  # the comparison itself; the caller adds the reason
    assert partial["detail"].endswith("100,000 cannot be served")


def test_files_goal() -> None:
    rows = [
        {"routes": 15_000, "layout": "sharded", "files": 7_500, "limit": 20_000},
        {"routes": 100_000, "layout": "sharded", "files": 100_000, "limit": 100_000},
    ]
    assert goals.files_goal("f", "f", rows)["status"] == "PASS"
    rows.append({"routes": 100_000, "layout": "manifest", "files": 196_003, "limit": 100_000})
    result = goals.files_goal("f", "f", rows)
    assert result["status"] == "FAIL" and "196,003 files (> 100,000)" in result["detail"]
    assert goals.files_goal("f", "f", [])["status"] == "N/A"


def _snap(**kw: int) -> dict[str, int]:
    base = {"bytes": 10, "recount": 10, "peak": 10, "max_bytes": 100, "evictions": 0}
    return {**base, **kw}


def test_budget_goal_uses_peak_recount_and_agreement() -> None:
    assert (
        goals.budget_goal([_snap(), _snap(bytes=99, recount=99, peak=100)], 5, 5)["status"]
        == "PASS"
    )
    assert goals.budget_goal([_snap(peak=101)], 5, 5)["status"] == "FAIL"
    assert goals.budget_goal([_snap(recount=101, bytes=101)], 5, 5)["status"] == "FAIL"
    disagree = goals.budget_goal([_snap(bytes=10, recount=12)], 5, 5)
    assert disagree["status"] == "FAIL" and "did NOT match" in disagree["detail"]
    partial = goals.budget_goal([_snap()], 3, 5)
    assert partial["status"] == "PASS" and "time limit: 3 of 5" in partial["detail"]
    assert goals.budget_goal([], 0, 5)["status"] == "N/A"


def test_single_fetch_goal() -> None:
    good = {"layout": "sharded", "fetches_per_file": {"/a": 1, "/b": 1}, "statuses": {"200": 100}}
    assert goals.single_fetch_goal([good, good])["status"] == "PASS"
    twice = {**good, "fetches_per_file": {"/a": 2, "/b": 1}}
    result = goals.single_fetch_goal([good, twice])
    assert result["status"] == "FAIL" and "'/a': 2" in result["detail"]
    errors = {**good, "statuses": {"200": 98, "500": 2}}
    assert goals.single_fetch_goal([errors])["status"] == "FAIL"
    assert goals.single_fetch_goal([{**good, "fetches_per_file": {}}])["status"] == "FAIL"
    assert goals.single_fetch_goal([])["status"] == "N/A"


# --- the summaries ------------------------------------------------------------------------------


def _cold(cpu: float, wall: float = 1.0, assets: int = 0, cache: str = "HIT") -> ColdRequest:
    return ColdRequest(
        path="/blog/x",
        status=200,
        cache_status=cache,
        wall_ms=wall,
        cpu_main_ms=cpu,
        cpu_process_ms=cpu + 1,
        rss_before=100,
        rss_after=150,
        settled=True,
        assets=[{"path": f"/__prerender/{i}", "status": 200, "ms": 1} for i in range(assets)],
    )


def test_cold_render_summary_subtracts_the_baseline_median() -> None:
    first = {
        "constant": [_cold(10), _cold(12), _cold(14)],
        "fetch": [_cold(15)],
        "seeded": [_cold(14, assets=3), _cold(15, assets=3)],
        "stale": [_cold(30, cache="STALE")],
        "render": [_cold(40, assets=1)],
    }
    second = {name: [_cold(2)] for name in first}
    second["render"] = [_cold(10)]
    result = cold_render.summarize(first, second, [], {"python": "3.14.2"}, 2)
    by_id = {f["id"]: f for f in result["figures"]}
    assert by_id["a.seeded.python_cpu"]["median"] == 2.5  # 14.5 - 12
    assert by_id["a.render.python_cpu"]["median"] == 28
    assert by_id["a.seeded.fetches"]["median"] == 3
    assert by_id["a.asset_fetch_ms"]["runs"] == 6
    assert by_id["a.second.render.python_cpu"]["median"] == 8
    statuses = {g["id"]: g["status"] for g in result["goals"]}
    assert statuses == {"a": "PASS", "a2": "PASS"}  # 2.5 <= 7; 0 <= 2
    assert result["benchmark"] == "cold" and result["python_in_worker"] == "3.14.2"
    assert cold_render._check("seeded", _cold(1, cache="MISS")) is not None
    assert cold_render._check("seeded", _cold(1)) is None


def test_scale_summary_and_fetched_bytes(tmp_path: Path, monkeypatch) -> None:
    budgets = [
        {"routes": 15_000, "layout": "sharded", "files": 7_500, "limit": 20_000},
        {"routes": 100_000, "layout": "sharded", "files": 49_975, "limit": 100_000},
        {"routes": 100_000, "layout": "manifest", "files": 196_003, "limit": 100_000},
    ]
    monkeypatch.setattr(scale_runtime, "file_budgets", lambda: budgets)
    (tmp_path / "__prerender" / "meta").mkdir(parents=True)
    (tmp_path / "__prerender" / "meta" / "build.json").write_bytes(b"x" * 300)
    fetches = [
        {"path": "/__prerender/meta/build.json", "status": 200},
        {"path": "/__prerender/missing.json", "status": 404},
    ]
    assert scale_runtime.fetched_bytes(tmp_path, fetches) == 300

    def cell(routes: int, layout: str, ms: float, unservable: str | None = None) -> dict:
        sample = {
            "wall_ms": ms,
            "cpu_main_ms": ms,
            "bytes": 1000,
            "fetches": 3,
            "rss_before": 10,
            "rss_growth": 5,
            "heap_growth": 7,
        }
        return {
            "routes": routes,
            "layout": layout,
            "files": 1,
            "laid_out_by": "copy_prerender",
            "samples": [] if unservable else [sample],
            "unservable": unservable,
        }

    cells = [
        cell(1000, "sharded", 10),
        cell(100_000, "sharded", 11),
        cell(1000, "manifest", 10),
        cell(10_000, "manifest", 30),
        cell(100_000, "manifest", 0, "manifest.json is 54.5 MiB"),
    ]
    result = scale_runtime.summarize(cells, [1000, 10_000, 100_000], 1)
    statuses = {g["id"]: g["status"] for g in result["goals"]}
    assert statuses == {
        "c": "PASS",
        "c-baseline": "FAIL",
        "c-files": "PASS",
        "c-files-baseline": "FAIL",
    }
    baseline = next(g for g in result["goals"] if g["id"] == "c-baseline")
    assert "1,000 -> 10,000 routes" in baseline["detail"]
    assert "54.5 MiB" in baseline["detail"]


def test_never_revalidating_routes_are_spread_and_seedable(tmp_path: Path) -> None:
    from bench.synthetic_site import SiteSpec, write_site

    manifest = write_site(SiteSpec(300), tmp_path / "build")
    routes = scale_runtime.never_revalidating(tmp_path / "build", 5)
    assert len(routes) == 5 and len(set(routes)) == 5
    for route in routes:
        record = manifest.routes[route]
        assert record.seedable and record.revalidate is None


def test_memory_summary() -> None:
    snaps = [
        {
            **_snap(),
            "entries": 1,
            "rejected": 0,
            "sets": 1,
            "index_shards": 1,
            "index_shard_bytes": 10,
            "asset_fetches": 1,
            "bytes_fetched": 5,
            "rss": 1000,
            "wasm_heap": 500,
            "python_heap": 400,
            "requests": 1,
            "t": 0,
            "hits": 0,
            "misses": 1,
        },
    ]
    snaps.append({**snaps[0], "bytes": 90, "recount": 90, "peak": 95, "evictions": 7, "rss": 3000})
    load = LoadResult(latencies_ms=[1.0, 2.0, 3.0], elapsed_s=1.0)
    load.statuses.update({200: 2, 404: 1})
    load.cache_statuses.update({"HIT": 2, "MISS": 1})
    result = memory_budget.summarize(
        snaps,
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


def test_concurrency_summary() -> None:
    rows = [
        {
            "layout": "sharded",
            "path": "/blog/a",
            "statuses": {"200": 100},
            "fetches_per_file": {"/b": 1, "/i": 1, "/p": 1},
            "wall_ms": 500.0,
            "python_errors": 0,
        },
        {
            "layout": "manifest",
            "path": "/blog/a",
            "statuses": {"200": 100},
            "fetches_per_file": {"/m": 1, "/r": 1},
            "wall_ms": 400.0,
            "python_errors": 0,
        },
    ]
    result = concurrency.summarize(rows, 1, 100)
    by_id = {f["id"]: f for f in result["figures"]}
    assert by_id["e.sharded.files"]["median"] == 3 and by_id["e.manifest.files"]["median"] == 2
    assert result["goals"][0]["status"] == "PASS"

"""The benchmark goals, evaluated from measured figures: PASS, FAIL, or N/A (not measured
in this run). Pure functions, unit-tested in tests/unit/test_bench_goals.py. The issues'
own words for each goal are quoted in bench/RESULTS.md (`bench.report.ISSUE_GOALS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.stats import ratio, within_ratio

PASS = "PASS"
FAIL = "FAIL"
NA = "N/A"

# Thresholds, as issue 12 states them.
FIRST_REQUEST_FLOOR = 1.3  # a: seeded first request's Python CPU <= 1.3x the floor's
SECOND_ROUTE_FLOOR = 1.2  # a2: a second route in the same isolate <= 1.2x the floor's
WARM_SERIAL_RATIO = 1.10  # b2: a cached page, one at a time, <= 1.10x the constant Worker
WARM_RUNS = 3  # b2: ... and stable over this many runs
SCALE_RATIO = 1.2  # c: cold seed from 1,000 to 100,000 routes within 1.2x
UNLISTED_NO_FETCH = 0.99  # unlisted paths: no fetch in at least 99% of cases
# Issue 11.
RENDERS_PER_WINDOW = 1.1  # at most 1.1 renders per revalidate window, across isolates


def goal(goal_id: str, label: str, status: str, detail: str) -> dict[str, str]:
    return {"id": goal_id, "label": label, "status": status, "detail": detail}


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def floor_goal(
    goal_id: str, label: str, seeded_ms: float | None, floor_ms: float | None, limit: float
) -> dict[str, str]:
    """a, a2: the seeded request's Python CPU (the constant Worker's subtracted) is at
    most `limit` times the floor's (a constant Worker making the same one asset fetch)."""
    if seeded_ms is None or floor_ms is None:
        return goal(goal_id, label, NA, "not measured")
    measured = ratio(seeded_ms, floor_ms)
    if measured is None:
        return goal(goal_id, label, FAIL, f"floor {_fmt(floor_ms)} ms is not above the baseline")
    return goal(
        goal_id,
        label,
        PASS if measured <= limit else FAIL,
        f"seeded {_fmt(seeded_ms)} ms vs floor {_fmt(floor_ms)} ms ({measured:.2f}x; limit "
        f"{limit}x = {_fmt(floor_ms * limit)} ms)",
    )


def stable_ratio_goal(
    goal_id: str,
    label: str,
    runs: Sequence[tuple[float, float]],
    limit: float,
    *,
    required_runs: int = WARM_RUNS,
) -> dict[str, str]:
    """b2: in every run, measured / base (medians) is at most `limit`, over at least
    `required_runs` runs; every run's ratio is listed."""
    if not runs:
        return goal(goal_id, label, NA, "not measured")
    ratios = [ratio(measured, base) for measured, base in runs]
    ok = all(r is not None and r <= limit for r in ratios) and len(runs) >= required_runs
    parts = [
        f"run {n + 1}: {_fmt(m)} vs {_fmt(b)} ms = "
        + (f"{r:.2f}x" if r is not None else "no ratio")
        for n, ((m, b), r) in enumerate(zip(runs, ratios, strict=True))
    ]
    detail = "; ".join(parts) + f" (limit {limit}x in each of {required_runs} runs)"
    if len(runs) < required_runs:
        detail += f"; only {len(runs)} run(s)"
    return goal(goal_id, label, PASS if ok else FAIL, detail)


def flat_goal(
    goal_id: str,
    label: str,
    small: Mapping[str, float | None],
    large: Mapping[str, float | None],
    *,
    small_routes: int,
    large_routes: int,
    fetch_counts: Iterable[int] | None = None,
    why_missing: str = "",
) -> dict[str, str]:
    """c: every named cost at `large_routes` is within 1.2x of the same at `small_routes`,
    and (with `fetch_counts`) every cold seed made exactly one fetch. A cost missing at
    either end is a FAIL when a reason is given (the site could not be served), else N/A."""
    if not small or not large:
        return goal(goal_id, label, FAIL if why_missing else NA, why_missing or "not measured")
    parts = []
    ok = True
    for name, low in small.items():
        high = large.get(name)
        if low is None or high is None:
            ok = False
            parts.append(f"{name}: missing")
            continue
        fits = within_ratio(low, high, SCALE_RATIO) if low > 0 else high <= 0
        ok = ok and fits
        shown = ratio(high, low)
        parts.append(
            f"{name} {_fmt(low)} -> {_fmt(high)} "
            f"({f'{shown:.2f}x' if shown is not None else 'n/a'}{'' if fits else ' > 1.2x'})"
        )
    detail = f"{small_routes:,} -> {large_routes:,} routes: " + "; ".join(parts)
    if fetch_counts is not None:
        counts = list(fetch_counts)
        other = [c for c in counts if c != 1]
        ok = ok and bool(counts) and not other
        detail += (
            f"; fetches: {len(counts) - len(other)} of {len(counts)} cold seeds made exactly 1"
        )
    if why_missing:
        detail += f". {why_missing}"
    return goal(goal_id, label, PASS if ok else FAIL, detail)


def files_goal(goal_id: str, label: str, budgets: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """c files: for each (routes, layout, files, limit), files <= limit."""
    rows = list(budgets)
    if not rows:
        return goal(goal_id, label, NA, "not measured")
    ok = all(row["files"] <= row["limit"] for row in rows)
    detail = "; ".join(
        f"{row['routes']:,} routes {row['layout']}: {row['files']:,} files "
        f"({'<=' if row['files'] <= row['limit'] else '>'} {row['limit']:,})"
        for row in rows
    )
    return goal(goal_id, label, PASS if ok else FAIL, detail)


def unlisted_goal(
    label: str, fetched: int, paths: int, routes: int, cost: str = ""
) -> dict[str, str]:
    """Unlisted paths: at least 99% of them make no asset fetch."""
    if paths <= 0:
        return goal("c-unlisted", label, NA, "not measured")
    share = 1 - fetched / paths
    detail = (
        f"{routes:,} routes: {paths - fetched:,} of {paths:,} unlisted paths made no fetch "
        f"({share:.2%}; at least {UNLISTED_NO_FETCH:.0%})"
    )
    if cost:
        detail += f"; {cost}"
    return goal("c-unlisted", label, PASS if share >= UNLISTED_NO_FETCH else FAIL, detail)


def budget_goal(
    samples: Iterable[Mapping[str, Any]], requests_done: int, requests_planned: int
) -> dict[str, str]:
    """d: the cache never holds more than its budget: at every sample, the peak the
    instrumented `set` saw and the bytes recounted from the entries are within
    `max_bytes`, and the cache's own count agrees with the recount."""
    label = "d: the cache budget is never exceeded"
    rows = list(samples)
    if not rows:
        return goal("d", label, NA, "not measured")
    budget = rows[-1]["max_bytes"]
    peak = max(max(r["peak"], r["bytes"], r["recount"]) for r in rows)
    agree = all(r["bytes"] == r["recount"] for r in rows)
    ok = peak <= budget and agree and all(r["max_bytes"] == budget for r in rows)
    detail = (
        f"peak {peak:,} B of {budget:,} B ({peak / budget:.1%}) over {requests_done:,} "
        f"requests, {rows[-1]['evictions']:,} evictions; the cache's byte count "
        f"{'matched' if agree else 'did NOT match'} a recount at all {len(rows)} samples"
    )
    if requests_done < requests_planned:
        detail += f" (stopped at the time limit: {requests_done:,} of {requests_planned:,})"
    return goal("d", label, PASS if ok else FAIL, detail)


def single_fetch_goal(bursts: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """e: in every burst, each file was fetched exactly once and every request got 200."""
    label = "e: 100 concurrent cold requests fetch each file exactly once"
    rows = list(bursts)
    if not rows:
        return goal("e", label, NA, "not measured")
    bad = []
    for n, row in enumerate(rows):
        counts: Mapping[str, int] = row["fetches_per_file"]
        extra = {path: c for path, c in counts.items() if c != 1}
        if extra or not counts:
            bad.append(f"burst {n}: {extra or 'no fetch'}")
        not_ok = sum(c for s, c in row["statuses"].items() if str(s) != "200")
        if not_ok:
            bad.append(f"burst {n}: {not_ok} answers not 200")
    files = sorted({len(r["fetches_per_file"]) for r in rows})
    requests = sum(sum(r["statuses"].values()) for r in rows)
    detail = (
        f"{len(rows)} bursts, {requests:,} requests, {'/'.join(map(str, files))} file(s) "
        f"per burst; " + ("each fetched once" if not bad else "; ".join(bad))
    )
    return goal("e", label, FAIL if bad else PASS, detail)


def renders_per_window_goal(
    goal_id: str, isolates: int, renders: int, windows: float
) -> dict[str, str]:
    """Issue 11: with `isolates` isolates under steady traffic, at most 1.1 renders of a
    page per revalidate window."""
    label = f"{goal_id}: renders per revalidate window, {isolates} isolate(s), <= 1.1"
    if windows <= 0:
        return goal(goal_id, label, NA, "not measured")
    per = renders / windows
    return goal(
        goal_id,
        label,
        PASS if per <= RENDERS_PER_WINDOW else FAIL,
        f"{renders} renders over {windows:.1f} windows = {per:.2f} per window",
    )


def d1_reads_goal(
    goal_id: str, isolates: int, reads: int, seconds: float, interval: float
) -> dict[str, str]:
    """Issue 11: D1 revalidation-time reads at most one per tag-cache interval per isolate
    (plus each isolate's first), whatever the traffic."""
    limit = isolates * (math.floor(seconds / interval) + 1)
    label = (
        f"{goal_id}: D1 reads of revalidation times, {isolates} isolate(s), <= 1 per "
        f"{interval:g} s per isolate"
    )
    return goal(
        goal_id,
        label,
        PASS if reads <= limit else FAIL,
        f"{reads} reads over {seconds:g} s (limit {limit})",
    )


def memory_hits_goal(
    goal_id: str, kv_calls: int, d1_calls: int, hits: int, isolates: int
) -> dict[str, str]:
    """Issue 11: memory hits read no KV, and D1 only through the background refresh of
    the revalidation times (at most one per isolate over a burst shorter than the
    tag-cache interval; never awaited by a hit: tests/unit/test_shared_flow.py)."""
    return goal(
        goal_id,
        f"{goal_id}: memory hits call no KV, and D1 at most once per isolate (background)",
        PASS if kv_calls == 0 and d1_calls <= isolates else FAIL,
        f"{hits:,} hits in {isolates} isolate(s): {kv_calls} KV calls, {d1_calls} D1 calls",
    )

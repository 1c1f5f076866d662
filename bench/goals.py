"""The benchmark goals of the issue, evaluated from measured figures: PASS, FAIL, or
N/A (not measured in this run). Pure functions, unit-tested in tests/unit/test_bench_goals.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.scale import within_ratio

PASS = "PASS"
FAIL = "FAIL"
NA = "N/A"

# Thresholds, as the issue states them.
SEED_CPU_SHARE = 0.25  # a: seeded cold request's Python CPU <= a quarter of the render path's
WARM_HIT_RATIO = 1.15  # b: warm-hit latency <= 1.15x the constant Worker's
SCALE_RATIO = 1.2  # c: cold seed cost from 1,000 to 100,000 routes within 1.2x
PAID_FILES = 100_000  # c files: 100,000 routes in at most 100,000 asset files
FREE_FILES = 20_000  # c files: 15,000 routes in at most 20,000


def goal(goal_id: str, label: str, status: str, detail: str) -> dict[str, str]:
    return {"id": goal_id, "label": label, "status": status, "detail": detail}


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def seed_cpu_goal(seeded_ms: float | None, render_ms: float | None) -> dict[str, str]:
    """a: the Python CPU (baseline subtracted) of a seeded cold request is at most a
    quarter of the render path's."""
    label = "a: seeded cold request CPU <= 1/4 of the render path's"
    if seeded_ms is None or render_ms is None:
        return goal("a", label, NA, "not measured")
    limit = SEED_CPU_SHARE * render_ms
    ok = render_ms > 0 and seeded_ms <= limit
    ratio = f"{seeded_ms / render_ms:.2f}x" if render_ms > 0 else "render path CPU <= 0"
    return goal(
        "a",
        label,
        PASS if ok else FAIL,
        f"seeded {_fmt(seeded_ms)} ms vs render {_fmt(render_ms)} ms ({ratio}; "
        f"limit {_fmt(limit)} ms)",
    )


def warm_hit_goal(
    page_ms: float | None, constant_ms: float | None, *, baseline: str = "constant"
) -> dict[str, str]:
    """b: the median latency of a cached page is at most 1.15x the constant Worker's."""
    label = "b: warm-hit latency <= 1.15x the constant Worker's"
    if page_ms is None or constant_ms is None or constant_ms <= 0:
        return goal("b", label, NA, "not measured")
    ratio = page_ms / constant_ms
    return goal(
        "b",
        label,
        PASS if ratio <= WARM_HIT_RATIO else FAIL,
        f"cached page {_fmt(page_ms)} ms vs {baseline} {_fmt(constant_ms)} ms ({ratio:.2f}x)",
    )


def flat_goal(
    goal_id: str,
    label: str,
    small: Mapping[str, float | None],
    large: Mapping[str, float | None],
    *,
    small_routes: int,
    large_routes: int,
    why_missing: str = "",
) -> dict[str, str]:
    """c: every named cost at `large_routes` is within 1.2x of the same at `small_routes`
    (`bench.scale.within_ratio`). A cost missing at either end is a FAIL when a reason is
    given (the large site could not be served at all), otherwise N/A."""
    if not small or not large:
        status = FAIL if why_missing else NA
        return goal(goal_id, label, status, why_missing or "not measured")
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
        ratio = f"{high / low:.2f}x" if low > 0 else "n/a"
        parts.append(f"{name} {_fmt(low)} -> {_fmt(high)} ({ratio}{'' if fits else ' > 1.2x'})")
    detail = f"{small_routes:,} -> {large_routes:,} routes: " + "; ".join(parts)
    if why_missing:
        detail += f". {why_missing}"
    return goal(goal_id, label, PASS if ok else FAIL, detail)


def files_goal(goal_id: str, label: str, budgets: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """c files: for each (routes, layout, files, limit), files <= limit."""
    parts = []
    ok = True
    rows = list(budgets)
    for row in rows:
        fits = row["files"] <= row["limit"]
        ok = ok and fits
        parts.append(
            f"{row['routes']:,} routes {row['layout']}: {row['files']:,} files "
            f"({'<=' if fits else '>'} {row['limit']:,})"
        )
    if not rows:
        return goal(goal_id, label, NA, "not measured")
    return goal(goal_id, label, PASS if ok else FAIL, "; ".join(parts))


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


def single_fetch_goal(runs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """e: in every burst, each file was fetched exactly once and every request got 200."""
    label = "e: 100 concurrent cold requests fetch each file exactly once"
    rows = list(runs)
    if not rows:
        return goal("e", label, NA, "not measured")
    bad = []
    for n, row in enumerate(rows):
        counts: Mapping[str, int] = row["fetches_per_file"]
        extra = {path: c for path, c in counts.items() if c != 1}
        if extra or not counts:
            bad.append(f"burst {n} ({row.get('layout', '?')}): {extra or 'no fetch'}")
        not_ok = sum(c for s, c in row["statuses"].items() if str(s) != "200")
        if not_ok:
            bad.append(f"burst {n} ({row.get('layout', '?')}): {not_ok} answers not 200")
    files = sorted({len(r["fetches_per_file"]) for r in rows})
    requests = sum(sum(r["statuses"].values()) for r in rows)
    detail = (
        f"{len(rows)} bursts, {requests:,} requests, {'/'.join(map(str, files))} files "
        f"per burst; " + ("each fetched once" if not bad else "; ".join(bad))
    )
    return goal("e", label, FAIL if bad else PASS, detail)

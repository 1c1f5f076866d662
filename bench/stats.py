"""The arithmetic behind every figure and goal: percentiles, a run's summary (median,
p95, run count), one row of a results table, and the ratio test of "at most N times".

Pure functions, unit-tested in tests/unit/test_bench_stats.py: a PASS or FAIL in
bench/RESULTS.md is only as right as these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating linearly between closest ranks (numpy's
    default). Raises ValueError on no values or q outside 0..100."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values (a figure that was not measured)."""
    return percentile(values, 50) if values else None


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """median, p95, run count, min, max and mean (None when there are no values)."""
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
    """One row of a results table: a named, unit-bearing summary of measured values."""
    return {"id": figure_id, "label": label, "unit": unit, **summarize(values), "note": note}


def within_ratio(base: float, measured: float, limit: float) -> bool:
    """True when `measured` is at most `limit` times `base`."""
    return measured <= base * limit


def ratio(measured: float, base: float) -> float | None:
    """measured / base, or None when the base is not positive (no ratio to speak of)."""
    return measured / base if base > 0 else None

"""bench/stats.py: the percentiles, summaries and ratios every figure and goal rests on."""

from __future__ import annotations

import pytest

from bench.stats import figure, median, percentile, ratio, summarize, within_ratio


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([4, 1, 3, 2], 0) == 1 and percentile([4, 1, 3, 2], 100) == 4
    assert percentile([7], 95) == 7
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)


def test_a_percentile_of_nothing_or_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_the_median_of_nothing_is_not_measured() -> None:
    assert median([]) is None
    assert median([3, 1, 2]) == 2


def test_a_summary_counts_runs_and_has_no_figures_without_values() -> None:
    assert summarize([3, 1, 2]) == {
        "median": 2,
        "p95": pytest.approx(2.9),
        "runs": 3,
        "min": 1,
        "max": 3,
        "mean": 2,
    }
    assert summarize([])["median"] is None and summarize([])["runs"] == 0
    row = figure("x.y", "label", "ms", [1.0, 2.0], "note")
    assert (row["id"], row["runs"], row["median"], row["note"]) == ("x.y", 2, 1.5, "note")


def test_at_most_n_times_includes_the_limit_itself() -> None:
    assert within_ratio(10, 12, 1.2) and not within_ratio(10, 12.01, 1.2)
    assert ratio(3, 2) == 1.5 and ratio(3, 0) is None

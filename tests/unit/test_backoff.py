"""Back-off after failures and throttled logging, the fault policy of the D1 and KV stores."""

from __future__ import annotations

import logging

import pytest

from seeding.primitives.backoff import Backoff, LogThrottle


def test_pauses_double_after_each_failure_up_to_the_cap() -> None:
    backoff = Backoff(first=2.0, cap=10.0)
    assert [backoff.failed(100.0) for _ in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_calls_are_blocked_during_the_pause_and_free_after_it() -> None:
    backoff = Backoff(first=5.0, cap=60.0)
    assert not backoff.blocked(100.0)
    backoff.failed(100.0)
    assert backoff.blocked(104.9)
    assert not backoff.blocked(105.0)


def test_until_tells_when_the_current_pause_ends() -> None:
    backoff = Backoff(first=5.0, cap=60.0)
    assert backoff.until == float("-inf")
    backoff.failed(100.0)
    backoff.failed(101.0)
    assert backoff.until == 111.0
    backoff.succeeded()
    assert backoff.until == float("-inf")


def test_a_success_clears_the_pause_and_the_doubling() -> None:
    backoff = Backoff(first=5.0, cap=60.0)
    backoff.failed(100.0)
    backoff.failed(100.0)
    backoff.succeeded()
    assert not backoff.blocked(100.0)
    assert backoff.failed(200.0) == 5.0


def test_a_cap_below_the_first_pause_is_refused() -> None:
    with pytest.raises(ValueError, match="first"):
        Backoff(first=10.0, cap=5.0)


def test_one_line_per_topic_per_interval_then_a_count_of_the_held_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logs = LogThrottle(interval=60.0)
    with caplog.at_level(logging.WARNING, logger="seeding"):
        assert logs.warning("kv", 0.0, "down")
        assert not logs.warning("kv", 30.0, "down")
        assert not logs.warning("kv", 59.0, "down")
        assert logs.warning("d1", 59.0, "also down")  # another topic has its own interval
        assert logs.warning("kv", 60.0, "down")
    assert [r.getMessage() for r in caplog.records] == [
        "seeding: down",
        "seeding: also down",
        "seeding: down (2 more like it since the last line)",
    ]

"""The regeneration lease: one winner per key per lease across isolates sharing one D1
(a migrated sqlite3 database here), leases that last a bounded time whatever the page's
window, expired rows pruned, and the per-isolate fallback when D1 fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from seeding.shared.regen_lease import LEASE_SECONDS, PRUNE_INTERVAL_SECONDS, RegenerationLease
from seeding.shared.sql_database import SqlRow, SqlValue
from tests.unit.fakes_shared import SqliteD1

NOW = 1_800_000_000.0
KEY = "build\x00html\x00/blog/a"


class Isolate:
    """One isolate's view: its own lease object and call log over the shared database."""

    def __init__(self, shared: SqliteD1, name: str, **options: float) -> None:
        self.db = SqliteD1(shared.connection)
        self.lease = RegenerationLease(self.db, timeout=0.05, **options)
        self.name = name

    async def acquire(self, now: float, key: str = KEY) -> bool:
        return await self.lease.try_acquire(key, self.name, now)

    def lease_calls(self) -> int:
        """D1 calls that asked for a lease (pruning aside)."""
        return sum(call.startswith("INSERT INTO regeneration_leases") for call in self.db.calls)


@pytest.fixture
def shared() -> SqliteD1:
    return SqliteD1()


@pytest.fixture
def a(shared: SqliteD1) -> Isolate:
    return Isolate(shared, "isolate-a")


@pytest.fixture
def b(shared: SqliteD1) -> Isolate:
    return Isolate(shared, "isolate-b")


async def test_one_of_two_isolates_racing_for_a_key_wins(a: Isolate, b: Isolate) -> None:
    assert sorted(await asyncio.gather(a.acquire(NOW), b.acquire(NOW))) == [False, True]


async def test_the_loser_wins_once_the_lease_has_lapsed(a: Isolate, b: Isolate) -> None:
    assert await a.acquire(NOW)
    assert not await b.acquire(NOW + 29)
    assert await b.acquire(NOW + 30)
    assert not await a.acquire(NOW + 30)


async def test_a_lease_lasts_thirty_seconds_by_default_not_the_pages_window(
    shared: SqliteD1,
) -> None:
    assert LEASE_SECONDS == 30.0
    lease = RegenerationLease(shared)
    assert await lease.try_acquire(KEY, "x", NOW)
    assert shared.rows("regeneration_leases")[0]["expires_at"] == NOW + LEASE_SECONDS


async def test_a_holder_that_dies_blocks_the_key_for_one_lease_only(
    shared: SqliteD1, b: Isolate
) -> None:
    dead = Isolate(shared, "isolate-gone", duration=10.0)
    assert await dead.acquire(NOW)
    del dead  # never releases
    assert not await b.acquire(NOW + 9)
    assert await b.acquire(NOW + 10)


@pytest.mark.parametrize("option", ["duration", "recheck_s", "timeout"])
def test_a_lease_with_a_time_that_is_not_positive_is_refused(shared: SqliteD1, option: str) -> None:
    with pytest.raises(ValueError, match=option):
        RegenerationLease(shared, **{option: 0.0})


async def test_keys_are_leased_independently(a: Isolate, b: Isolate) -> None:
    assert await a.acquire(NOW, key="k1")
    assert await b.acquire(NOW, key="k2")


async def test_the_winner_does_not_ask_d1_again_during_its_lease(a: Isolate) -> None:
    assert await a.acquire(NOW)
    assert not await a.acquire(NOW + 5)
    assert a.lease_calls() == 1 and a.lease.stats.remembered == 1


async def test_a_loser_asks_d1_at_most_once_a_second_under_load(a: Isolate, b: Isolate) -> None:
    assert await a.acquire(NOW)
    answers = [await b.acquire(NOW + i / 100) for i in range(250)]  # 2.5 s of requests
    assert not any(answers)
    assert b.lease_calls() == 3


async def test_a_released_lease_can_be_taken_at_once(a: Isolate, b: Isolate) -> None:
    assert await a.acquire(NOW)
    assert await a.lease.release(KEY, a.name, NOW + 1)
    assert await b.acquire(NOW + 1)


async def test_releasing_someone_elses_lease_leaves_it_in_place(
    shared: SqliteD1, a: Isolate, b: Isolate
) -> None:
    assert await a.acquire(NOW)
    assert await b.lease.release(KEY, b.name, NOW + 1)
    assert shared.rows("regeneration_leases")[0]["holder"] == a.name
    assert not await b.acquire(NOW + 2)


async def test_when_d1_fails_each_isolate_regenerates_once_per_lease(
    shared: SqliteD1, a: Isolate, b: Isolate
) -> None:
    a.db.error = b.db.error = RuntimeError("D1_ERROR: internal error")
    assert await a.acquire(NOW) and await b.acquire(NOW)
    assert not await a.acquire(NOW + 10)
    assert await a.acquire(NOW + 30)
    assert a.lease.stats.local == 2 and a.lease.stats.failures == 2  # probed after its pause


async def test_during_the_back_off_no_d1_call_is_made(a: Isolate) -> None:
    lease = Isolate(
        SqliteD1(a.db.connection), "c", duration=5.0, first_backoff=20.0, max_backoff=80.0
    )
    lease.db.error = RuntimeError("D1 down")
    assert await lease.acquire(NOW, key="k1")
    assert await lease.acquire(NOW + 1, key="k2")
    assert await lease.acquire(NOW + 19, key="k1")
    assert len(lease.db.calls) == 1
    lease.db.error = None
    assert await lease.acquire(NOW + 20, key="k3")  # D1 again, and it answers
    assert lease.lease_calls() == 2 and lease.lease.stats.acquired == 1


async def test_a_lease_call_that_does_not_answer_in_time_falls_back(a: Isolate) -> None:
    a.db.hang = True
    assert await a.acquire(NOW)
    assert a.lease.stats.failures == 1 and a.lease.stats.local == 1


async def test_a_d1_outage_logs_once_per_interval(
    a: Isolate, caplog: pytest.LogCaptureFixture
) -> None:
    lease = RegenerationLease(a.db, first_backoff=1.0, max_backoff=1.0, log_interval=60.0)
    a.db.error = RuntimeError("D1 down")
    with caplog.at_level(logging.WARNING, logger="seeding"):
        for t in range(0, 60, 2):
            await lease.try_acquire(f"k{t}", "x", NOW + t)
    assert lease.stats.failures == 30 and len(caplog.records) == 1


async def test_a_release_during_an_outage_reports_false_without_raising(a: Isolate) -> None:
    assert await a.acquire(NOW)
    a.db.error = RuntimeError("D1 down")
    calls = len(a.db.calls)
    assert not await a.lease.release(KEY, a.name, NOW + 1)
    assert not await a.lease.release(KEY, a.name, NOW + 2)  # backed off: no call
    assert len(a.db.calls) == calls + 1


class OddD1:
    async def run(self, sql: str, params: Sequence[SqlValue]) -> int:
        return 2

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        return []


async def test_a_change_count_a_lease_cannot_have_is_treated_as_a_failure() -> None:
    lease = RegenerationLease(OddD1())
    assert await lease.try_acquire(KEY, "x", NOW)
    assert lease.stats.failures == 1 and lease.stats.acquired == 0


async def test_expired_lease_rows_are_pruned_on_a_later_acquisition(
    shared: SqliteD1, a: Isolate, b: Isolate
) -> None:
    for i in range(5):
        assert await a.acquire(NOW, key=f"old{i}")
    assert len(shared.rows("regeneration_leases")) == 5
    assert await b.acquire(NOW + LEASE_SECONDS, key="new")  # b has not pruned yet
    assert [row["key"] for row in shared.rows("regeneration_leases")] == ["new"]
    assert b.lease.stats.pruned == 5


async def test_an_isolate_prunes_at_most_once_per_interval(a: Isolate) -> None:
    for t in range(0, 120, 2):
        await a.acquire(NOW + t, key=f"k{t}")
    prunes = sum(call.startswith("DELETE FROM regeneration_leases") for call in a.db.calls)
    assert prunes == 120 // PRUNE_INTERVAL_SECONDS


async def test_the_lease_table_holds_only_the_last_ninety_seconds_of_leases(
    shared: SqliteD1,
) -> None:
    isolates = [Isolate(shared, f"isolate-{i}") for i in range(4)]
    for t in range(0, 3600, 3):  # an hour of regenerations, a new route every 3 s
        await isolates[t % 4].acquire(NOW + t, key=f"/route/{t}")
        taken = [row["expires_at"] - LEASE_SECONDS for row in shared.rows("regeneration_leases")]
        assert all(NOW + t - at < LEASE_SECONDS + PRUNE_INTERVAL_SECONDS for at in taken)
    assert len(shared.rows("regeneration_leases")) <= (LEASE_SECONDS + PRUNE_INTERVAL_SECONDS) / 3


async def test_prune_deletes_only_expired_rows_and_reports_how_many(
    shared: SqliteD1, a: Isolate
) -> None:
    assert await a.acquire(NOW, key="done")
    assert await a.acquire(NOW + 20, key="running")
    assert await a.lease.prune(NOW + 30) == 1
    assert [row["key"] for row in shared.rows("regeneration_leases")] == ["running"]


async def test_a_failed_prune_is_logged_and_counts_nothing(a: Isolate) -> None:
    a.db.error = RuntimeError("D1 down")
    assert await a.lease.prune(NOW) == 0
    assert a.lease.stats.failures == 1
    a.db.error = None
    assert await a.acquire(NOW)  # no back-off from a prune

"""The regeneration lease: one winner per key per window across isolates sharing one D1
(a migrated sqlite3 database here), leases that expire by themselves, and the per-isolate
fallback when D1 fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from seeding.shared.regen_lease import RegenerationLease
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

    async def acquire(self, now: float, window: float = 30.0, key: str = KEY) -> bool:
        return await self.lease.try_acquire(key, self.name, window, now)


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


async def test_the_loser_wins_once_the_window_has_passed(a: Isolate, b: Isolate) -> None:
    assert await a.acquire(NOW)
    assert not await b.acquire(NOW + 29)
    assert await b.acquire(NOW + 30)
    assert not await a.acquire(NOW + 30)


async def test_a_holder_that_dies_blocks_the_key_for_one_window_only(
    shared: SqliteD1, b: Isolate
) -> None:
    dead = Isolate(shared, "isolate-gone")
    assert await dead.acquire(NOW, window=10)
    del dead  # never releases
    assert not await b.acquire(NOW + 9)
    assert await b.acquire(NOW + 10)


async def test_keys_are_leased_independently(a: Isolate, b: Isolate) -> None:
    assert await a.acquire(NOW, key="k1")
    assert await b.acquire(NOW, key="k2")


async def test_the_winner_does_not_ask_d1_again_during_its_window(a: Isolate) -> None:
    assert await a.acquire(NOW)
    assert not await a.acquire(NOW + 5)
    assert len(a.db.calls) == 1 and a.lease.stats.remembered == 1


async def test_a_loser_asks_d1_at_most_once_a_second_under_load(a: Isolate, b: Isolate) -> None:
    assert await a.acquire(NOW)
    answers = [await b.acquire(NOW + i / 100) for i in range(250)]  # 2.5 s of requests
    assert not any(answers)
    assert len(b.db.calls) == 3


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


async def test_when_d1_fails_each_isolate_regenerates_once_per_window(
    shared: SqliteD1, a: Isolate, b: Isolate
) -> None:
    a.db.error = b.db.error = RuntimeError("D1_ERROR: internal error")
    assert await a.acquire(NOW) and await b.acquire(NOW)
    assert not await a.acquire(NOW + 10)
    assert await a.acquire(NOW + 30)
    assert a.lease.stats.local == 2 and a.lease.stats.failures == 2  # probed after its pause


async def test_during_the_back_off_no_d1_call_is_made(a: Isolate) -> None:
    lease = Isolate(SqliteD1(a.db.connection), "c", first_backoff=20.0, max_backoff=80.0)
    lease.db.error = RuntimeError("D1 down")
    assert await lease.acquire(NOW, window=5, key="k1")
    assert await lease.acquire(NOW + 1, window=5, key="k2")
    assert await lease.acquire(NOW + 19, window=5, key="k1")
    assert len(lease.db.calls) == 1
    lease.db.error = None
    assert await lease.acquire(NOW + 20, window=5, key="k3")  # D1 again, and it answers
    assert len(lease.db.calls) == 2 and lease.lease.stats.acquired == 1


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
            await lease.try_acquire(f"k{t}", "x", 30, NOW + t)
    assert lease.stats.failures == 30 and len(caplog.records) == 1


async def test_a_release_during_an_outage_reports_false_without_raising(a: Isolate) -> None:
    assert await a.acquire(NOW)
    a.db.error = RuntimeError("D1 down")
    assert not await a.lease.release(KEY, a.name, NOW + 1)
    assert not await a.lease.release(KEY, a.name, NOW + 2)  # backed off: no call
    assert len(a.db.calls) == 2


class OddD1:
    async def run(self, sql: str, params: Sequence[SqlValue]) -> int:
        return 2

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        return []


async def test_a_change_count_a_lease_cannot_have_is_treated_as_a_failure() -> None:
    lease = RegenerationLease(OddD1())
    assert await lease.try_acquire(KEY, "x", 30, NOW)
    assert lease.stats.failures == 1 and lease.stats.acquired == 0

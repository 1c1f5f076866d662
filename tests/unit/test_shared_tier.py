"""The shared tier's promises to the request flow: a page is never judged on revalidation
times older than the bound, however long the isolate idled; a young snapshot costs no
binding call; concurrent requests share one refresh; every wait on D1 lasts one timeout
at most; a lease says "being regenerated" for a bounded time and is given back by a
failed or cancelled regeneration; and D1's tables are pruned."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from seeding.primitives.cache import CacheEntry
from seeding.routes import Variant
from seeding.shared.regen_lease import LEASE_SECONDS, RegenerationLease
from seeding.shared.sql_database import SqlRow, SqlValue
from seeding.shared.tag_clock import (
    KEEP_BEFORE_BUILD_SECONDS,
    RevalidationMode,
    TagClock,
    Verdict,
)
from seeding.shared.tier import SharedTier
from tests.unit.fakes import WaitUntil
from tests.unit.fakes_shared import SqliteD1

NOW = 1_800_000_000.0
MAX_AGE = 5.0
TIMEOUT = 0.05
SLOW_TIMEOUT = 0.2  # for the tests that time a wait: room for a loaded machine's jitter
BUILD = "build-1"
ROUTE = "/blog/a"
HTML = Variant.HTML
EXPIRE = RevalidationMode.EXPIRE


def page(generated_at: float = NOW - 100, revalidate: int | None = None) -> CacheEntry:
    return CacheEntry(b"<p>", 200, {}, generated_at, revalidate=revalidate, tags=("posts",))


def isolate(db: SqliteD1, name: str = "a", *, since: float = 0.0) -> SharedTier:
    """One isolate's tier over the shared database, with its own D1 view."""
    d1 = SqliteD1(db.connection)
    return SharedTier(
        None,
        TagClock(d1, max_age=MAX_AGE, timeout=TIMEOUT, since=since),
        RegenerationLease(d1, timeout=TIMEOUT),
        holder=name,
    )


def queries(tier: SharedTier) -> int:
    """D1 reads of revalidation times this isolate made."""
    assert tier.tags is not None
    return tier.tags.stats.queries + tier.tags.stats.failures


async def revalidate_elsewhere(db: SqliteD1, at: float, mode: RevalidationMode = EXPIRE) -> None:
    assert await TagClock(SqliteD1(db.connection)).revalidate([ROUTE], [], mode, at)


def elapsed_since(start: float) -> float:
    return asyncio.get_running_loop().time() - start


def loop_time() -> float:
    return asyncio.get_running_loop().time()


@pytest.fixture
def db() -> SqliteD1:
    return SqliteD1()


# -- freshness --------------------------------------------------------------------------


def test_the_bound_is_twice_the_refresh_interval(db: SqliteD1) -> None:
    tags = TagClock(db, max_age=7.0)
    assert tags.max_age == 7.0 and tags.bound == 14.0


async def test_a_memory_hit_after_hours_of_idling_is_judged_after_a_refresh(
    db: SqliteD1,
) -> None:
    a = isolate(db)
    await a.ensure_loaded(NOW)
    entry = page()
    assert a.verdict(entry, ROUTE, NOW) is Verdict.FRESH
    await revalidate_elsewhere(db, NOW + 1)
    later = NOW + 3 * 3600  # the isolate sat idle for three hours
    await a.ensure_loaded(later)  # before judging, as the flow does for a memory hit
    assert a.verdict(entry, ROUTE, later) is Verdict.EXPIRED


async def test_a_snapshot_younger_than_the_interval_costs_no_call_and_no_suspension(
    db: SqliteD1,
) -> None:
    a = isolate(db)
    await a.ensure_loaded(NOW)
    before = queries(a)
    wait_until = WaitUntil()
    pending = a.ensure_loaded(NOW + MAX_AGE - 0.01, wait_until)
    with pytest.raises(StopIteration):
        pending.send(None)  # done at the first step: nothing awaited
    assert queries(a) == before and wait_until.pending == []


async def test_between_the_interval_and_the_bound_the_request_waits_for_nothing(
    db: SqliteD1,
) -> None:
    a = isolate(db)
    await a.ensure_loaded(NOW)
    await revalidate_elsewhere(db, NOW + 1)
    wait_until = WaitUntil()
    at = NOW + MAX_AGE + 1
    pending = a.ensure_loaded(at, wait_until)
    with pytest.raises(StopIteration):
        pending.send(None)
    assert len(wait_until.pending) == 1  # one refresh in the background
    assert a.verdict(page(), ROUTE, at) is Verdict.FRESH  # within the bound: allowed
    await wait_until.drain()
    assert a.verdict(page(), ROUTE, at) is Verdict.EXPIRED


async def test_without_wait_until_the_background_refresh_is_left_to_refresh(
    db: SqliteD1,
) -> None:
    a = isolate(db)
    await a.ensure_loaded(NOW)
    before = queries(a)
    await a.ensure_loaded(NOW + MAX_AGE + 1)
    assert queries(a) == before
    wait_until = WaitUntil()
    a.refresh(NOW + MAX_AGE + 1, wait_until)
    assert len(wait_until.pending) == 1
    await wait_until.drain()


async def test_a_new_isolate_awaits_its_first_refresh_before_judging(db: SqliteD1) -> None:
    await revalidate_elsewhere(db, NOW - 10)
    a = isolate(db)
    await a.ensure_loaded(NOW, WaitUntil())
    assert a.verdict(page(NOW - 100), ROUTE, NOW) is Verdict.EXPIRED


async def test_concurrent_cold_requests_share_one_refresh_and_all_see_it(db: SqliteD1) -> None:
    await revalidate_elsewhere(db, NOW - 10)
    a = isolate(db)

    async def request() -> Verdict:
        await a.ensure_loaded(NOW, WaitUntil())
        return a.verdict(page(NOW - 100), ROUTE, NOW)

    assert await asyncio.gather(*(request() for _ in range(5))) == [Verdict.EXPIRED] * 5
    assert queries(a) == 1


async def test_a_request_past_the_bound_waits_for_the_background_refresh_already_running(
    db: SqliteD1,
) -> None:
    a = isolate(db)
    await a.ensure_loaded(NOW)
    await revalidate_elsewhere(db, NOW + 1)
    wait_until = WaitUntil()
    bound = 2 * MAX_AGE
    a.refresh(NOW + bound - 0.01, wait_until)  # claimed by an earlier request, not yet run
    running = asyncio.ensure_future(wait_until.drain())
    await a.ensure_loaded(NOW + bound + 0.01)
    assert a.verdict(page(), ROUTE, NOW + bound + 0.01) is Verdict.EXPIRED
    await running
    assert queries(a) == 2  # the first load and the one refresh, no third


async def test_a_claimed_refresh_that_never_ran_does_not_stall_later_ones(db: SqliteD1) -> None:
    a = isolate(db)
    assert a.tags is not None
    dropped = a.tags.claim_refresh(NOW)
    assert dropped is not None
    dropped.close()  # its waitUntil never ran it
    await a.ensure_loaded(NOW + 2 * MAX_AGE)
    assert queries(a) == 1 and a.tags.loaded


async def test_a_d1_that_never_answers_costs_a_request_one_timeout_and_no_more(
    db: SqliteD1,
) -> None:
    d1 = SqliteD1(db.connection)
    d1.hang = True
    a = SharedTier(tags=TagClock(d1, max_age=MAX_AGE, timeout=SLOW_TIMEOUT))
    start = loop_time()
    await asyncio.gather(*(a.ensure_loaded(NOW) for _ in range(3)))
    waited = elapsed_since(start)
    assert SLOW_TIMEOUT * 0.9 <= waited < SLOW_TIMEOUT * 1.5
    start = loop_time()
    await a.ensure_loaded(NOW + 1)  # backed off: serves on the old snapshot at once
    assert elapsed_since(start) < SLOW_TIMEOUT / 2


class SlowD1:
    """A D1 that answers each query after `delay` seconds."""

    def __init__(self, inner: SqliteD1, delay: float) -> None:
        self.inner, self.delay = inner, delay

    async def run(self, sql: str, params: Sequence[SqlValue]) -> int:
        return await self.inner.run(sql, params)

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        await asyncio.sleep(self.delay)
        return await self.inner.all(sql, params)


async def test_a_slow_d1_with_a_backlog_costs_one_timeout_not_one_per_page(
    db: SqliteD1,
) -> None:
    writer = TagClock(SqliteD1(db.connection))
    assert await writer.revalidate([f"/p{i}" for i in range(40)], [], EXPIRE, NOW - 10)
    slow = SlowD1(SqliteD1(db.connection), delay=SLOW_TIMEOUT * 0.4)
    tier = SharedTier(tags=TagClock(slow, max_age=MAX_AGE, timeout=SLOW_TIMEOUT, page_size=2))
    start = loop_time()
    await tier.ensure_loaded(NOW)
    assert elapsed_since(start) < SLOW_TIMEOUT * 1.5
    assert tier.tags is not None
    assert tier.tags.stats.rows_read >= 2  # the pages read in time are kept
    assert not tier.tags.loaded


# -- leases -----------------------------------------------------------------------------


async def test_a_dead_holder_blocks_a_daily_page_for_one_lease_not_a_day(db: SqliteD1) -> None:
    daily = page(NOW - 2 * 86400, revalidate=86400)
    dead, b = isolate(db, "dead"), isolate(db, "b")
    assert await dead.may_regenerate(BUILD, HTML, ROUTE, daily, NOW)
    del dead  # never gives it back
    assert not await b.may_regenerate(BUILD, HTML, ROUTE, daily, NOW + LEASE_SECONDS - 1)
    assert await b.may_regenerate(BUILD, HTML, ROUTE, daily, NOW + LEASE_SECONDS)


async def test_a_successful_regeneration_keeps_its_lease_until_it_lapses(db: SqliteD1) -> None:
    a, b = isolate(db, "a"), isolate(db, "b")
    stale = page(revalidate=60)
    assert await a.may_regenerate(BUILD, HTML, ROUTE, stale, NOW)
    assert not await b.may_regenerate(BUILD, HTML, ROUTE, stale, NOW + 10)


async def test_the_next_generation_of_a_short_window_page_regenerates_within_a_lease(
    db: SqliteD1,
) -> None:
    a, b = isolate(db, "a"), isolate(db, "b")
    first = page(NOW - 20, revalidate=5)
    assert await a.may_regenerate(BUILD, HTML, ROUTE, first, NOW)
    regenerated = page(NOW, revalidate=5)  # a kept its lease; 6 s on, this one is stale
    assert not await b.may_regenerate(BUILD, HTML, ROUTE, first, NOW + 6)
    assert await b.may_regenerate(BUILD, HTML, ROUTE, regenerated, NOW + 6)


async def test_a_cancelled_regeneration_gives_its_lease_back(db: SqliteD1) -> None:
    a, b = isolate(db, "a"), isolate(db, "b")
    stale = page(revalidate=60)
    rendering = asyncio.Event()

    async def regenerate() -> None:
        assert await a.may_regenerate(BUILD, HTML, ROUTE, stale, NOW)
        try:
            rendering.set()
            await asyncio.Event().wait()  # a render that never ends
        except asyncio.CancelledError:
            await a.regeneration_failed(BUILD, HTML, ROUTE, stale, NOW)
            raise

    task = asyncio.ensure_future(regenerate())
    await rendering.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db.rows("regeneration_leases") == []
    assert await b.may_regenerate(BUILD, HTML, ROUTE, stale, NOW + 1)


class SlowReleaseD1(SqliteD1):
    async def run(self, sql: str, params: Sequence[SqlValue]) -> int:
        if sql.startswith("DELETE FROM regeneration_leases WHERE key"):
            await asyncio.sleep(TIMEOUT / 5)
        return await super().run(sql, params)


async def test_a_release_goes_on_when_its_caller_is_cancelled_again(db: SqliteD1) -> None:
    view = SlowReleaseD1(db.connection)
    a = SharedTier(lease=RegenerationLease(view, timeout=TIMEOUT), holder="a")
    stale = page(revalidate=60)
    assert await a.may_regenerate(BUILD, HTML, ROUTE, stale, NOW)
    releasing = asyncio.ensure_future(a.regeneration_failed(BUILD, HTML, ROUTE, stale, NOW))
    await asyncio.sleep(0)
    releasing.cancel()  # the regeneration's task is cancelled once more
    with pytest.raises(asyncio.CancelledError):
        await releasing
    assert db.rows("regeneration_leases") != []  # still under way
    await asyncio.sleep(TIMEOUT / 2)
    assert db.rows("regeneration_leases") == []


async def test_the_lease_given_back_is_the_one_taken_even_after_a_newer_mark(
    db: SqliteD1,
) -> None:
    a = isolate(db, "a")
    await a.ensure_loaded(NOW)
    stale = page(revalidate=60)
    assert await a.may_regenerate(BUILD, HTML, ROUTE, stale, NOW)
    await revalidate_elsewhere(db, NOW + 1, RevalidationMode.STALE)
    await a.ensure_loaded(NOW + 3 * MAX_AGE)  # the snapshot now has a newer mark
    await a.regeneration_failed(BUILD, HTML, ROUTE, stale, NOW + 3 * MAX_AGE)
    assert db.rows("regeneration_leases") == []


# -- growth -----------------------------------------------------------------------------


async def test_prune_deletes_expired_leases_and_marks_older_than_the_build_by_a_week(
    db: SqliteD1,
) -> None:
    build_time = NOW - 3600
    a = isolate(db, "a", since=build_time)
    writer = TagClock(SqliteD1(db.connection))
    assert await writer.revalidate(
        ["/ancient"], [], EXPIRE, build_time - KEEP_BEFORE_BUILD_SECONDS - 1
    )
    assert await writer.revalidate(["/last-week"], [], EXPIRE, build_time - 86400)
    assert await a.may_regenerate(BUILD, HTML, "/done", page(), NOW - 60)
    assert await a.may_regenerate(BUILD, HTML, "/running", page(), NOW - 5)
    assert await a.prune(NOW) == 2
    assert [row["name"] for row in db.rows("revalidations")] == ["/last-week"]
    assert len(db.rows("regeneration_leases")) == 1


async def test_without_a_build_time_no_mark_is_pruned(db: SqliteD1) -> None:
    a = isolate(db, "a", since=0.0)
    assert await TagClock(SqliteD1(db.connection)).revalidate(["/old"], [], EXPIRE, 1.0)
    assert await a.prune(NOW) == 0
    assert len(db.rows("revalidations")) == 1

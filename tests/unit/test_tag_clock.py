"""The tag clock: revalidation marks in D1 (a migrated sqlite3 database here), verdicts from
an isolate-local snapshot, refreshes at most once per max_age and only of changed rows,
and back-off when D1 is down."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from seeding.primitives.cache import CacheEntry
from seeding.shared.sql_database import SqlRow, SqlValue
from seeding.shared.tag_clock import RevalidationMode, TagClock, Verdict
from tests.unit.fakes import WaitUntil
from tests.unit.fakes_shared import SqliteD1

NOW = 1_800_000_000.0
STALE, EXPIRE = RevalidationMode.STALE, RevalidationMode.EXPIRE


def page(generated_at: float = NOW - 100, tags: tuple[str, ...] = (), **kw: object) -> CacheEntry:
    return CacheEntry(b"<p>", 200, {}, generated_at, tags=tags, **kw)  # type: ignore[arg-type]


async def refresh(clock: TagClock, now: float) -> bool:
    """Run a refresh if one is due, as `ctx.waitUntil` would; whether one ran."""
    claimed = clock.claim_refresh(now)
    if claimed is None:
        return False
    await claimed
    return True


@pytest.fixture
def db() -> SqliteD1:
    return SqliteD1()


@pytest.fixture
def clock(db: SqliteD1) -> TagClock:
    return TagClock(db, max_age=5.0, timeout=0.05)


def test_a_page_nobody_revalidated_is_judged_by_its_own_times(clock: TagClock) -> None:
    assert clock.verdict(page(), "/a", NOW) is Verdict.FRESH
    assert clock.verdict(page(revalidate=60), "/a", NOW) is Verdict.STALE
    assert clock.verdict(page(revalidate=60, expire=90), "/a", NOW) is Verdict.EXPIRED


async def test_a_stale_tag_makes_older_pages_with_that_tag_stale_in_the_same_isolate(
    clock: TagClock,
) -> None:
    assert await clock.revalidate([], ["posts"], STALE, NOW)
    assert clock.verdict(page(tags=("posts",)), "/blog/a", NOW) is Verdict.STALE
    assert clock.verdict(page(tags=("authors",)), "/blog/a", NOW) is Verdict.FRESH
    # The regenerated page is newer than the mark: fresh again.
    assert clock.verdict(page(NOW + 1, tags=("posts",)), "/blog/a", NOW + 1) is Verdict.FRESH


async def test_an_expired_path_makes_its_older_page_expired_in_both_variants(
    clock: TagClock,
) -> None:
    assert await clock.revalidate(["/blog/a"], [], EXPIRE, NOW)
    assert clock.verdict(page(), "/blog/a", NOW) is Verdict.EXPIRED
    assert clock.verdict(page(), "/blog/b", NOW) is Verdict.FRESH
    assert clock.verdict(page(NOW + 1), "/blog/a", NOW + 1) is Verdict.FRESH


async def test_a_page_made_in_the_same_instant_as_the_revalidation_counts_as_revalidated(
    clock: TagClock,
) -> None:
    await clock.revalidate(["/a"], [], STALE, NOW)
    assert clock.verdict(page(NOW), "/a", NOW) is Verdict.STALE


async def test_a_path_and_a_tag_of_the_same_name_are_different_marks(clock: TagClock) -> None:
    await clock.revalidate([], ["/blog/a"], EXPIRE, NOW)
    assert clock.verdict(page(), "/blog/a", NOW) is Verdict.FRESH
    assert clock.verdict(page(tags=("/blog/a",)), "/blog/x", NOW) is Verdict.EXPIRED


async def test_a_later_stale_revalidation_does_not_undo_an_earlier_expire(
    db: SqliteD1, clock: TagClock
) -> None:
    await clock.revalidate([], ["posts"], EXPIRE, NOW - 50)
    await clock.revalidate([], ["posts"], STALE, NOW)
    other = TagClock(db)
    await refresh(other, NOW)
    for isolate in (clock, other):
        assert isolate.verdict(page(NOW - 60, tags=("posts",)), "/a", NOW) is Verdict.EXPIRED
        assert isolate.verdict(page(NOW - 10, tags=("posts",)), "/a", NOW) is Verdict.STALE


async def test_a_revalidation_stamped_earlier_never_moves_a_mark_back(db: SqliteD1) -> None:
    writer = TagClock(db)
    await writer.revalidate([], ["posts"], STALE, NOW)
    await writer.revalidate([], ["posts"], STALE, NOW - 30)  # another isolate's clock, behind
    reader = TagClock(db)
    await refresh(reader, NOW)
    assert reader.verdict(page(NOW - 10, tags=("posts",)), "/a", NOW) is Verdict.STALE


async def test_another_isolate_sees_a_revalidation_after_its_next_refresh(db: SqliteD1) -> None:
    writer, reader = TagClock(SqliteD1(db.connection)), TagClock(db, max_age=5.0)
    entry = page(tags=("posts",))
    assert await refresh(reader, NOW)
    await writer.revalidate([], ["posts"], STALE, NOW + 1)
    assert reader.verdict(entry, "/a", NOW + 2) is Verdict.FRESH  # its snapshot is younger
    assert not reader.refresh_due(NOW + 4.9)
    assert await refresh(reader, NOW + 5)
    assert reader.verdict(entry, "/a", NOW + 5) is Verdict.STALE


async def test_verdicts_never_query_d1(db: SqliteD1, clock: TagClock) -> None:
    await clock.revalidate(["/a"], ["posts"], STALE, NOW)
    calls = len(db.calls)
    for i in range(100):
        clock.verdict(page(tags=("posts", "x")), f"/r{i}", NOW + i)
    assert len(db.calls) == calls


async def test_the_snapshot_is_refreshed_at_most_once_per_max_age(
    db: SqliteD1, clock: TagClock
) -> None:
    refreshed = [await refresh(clock, NOW + t) for t in (0, 1, 2.5, 4.99, 5, 6, 9.99, 10)]
    assert refreshed == [True, False, False, False, True, False, False, True]
    assert clock.stats.queries == 3 and len(db.calls) == 3


async def test_concurrent_requests_claim_one_refresh(clock: TagClock) -> None:
    wait_until = WaitUntil()
    for _ in range(5):
        claimed = clock.claim_refresh(NOW)
        if claimed is not None:
            wait_until(claimed)
    assert len(wait_until.pending) == 1
    assert not clock.refresh_due(NOW + 0.01)  # still running
    await wait_until.drain()
    assert clock.loaded and clock.refresh_due(NOW + 10)


async def test_a_refresh_reads_only_the_rows_changed_since_the_last_one(db: SqliteD1) -> None:
    writer, reader = TagClock(SqliteD1(db.connection)), TagClock(db)
    await writer.revalidate([f"/p{i}" for i in range(40)], [f"t{i}" for i in range(10)], STALE, NOW)
    await refresh(reader, NOW)
    assert reader.stats.rows_read == 50
    await writer.revalidate([], ["t3"], EXPIRE, NOW + 1)
    await refresh(reader, NOW + 5)
    assert reader.stats.rows_read == 51
    await refresh(reader, NOW + 10)
    assert reader.stats.rows_read == 51
    assert reader.verdict(page(NOW + 0.5, tags=("t3",)), "/x", NOW + 10) is Verdict.EXPIRED
    assert reader.verdict(page(NOW - 1), "/p39", NOW + 10) is Verdict.STALE


async def test_a_large_change_is_read_in_pages_and_none_of_it_is_lost(db: SqliteD1) -> None:
    writer, reader = TagClock(SqliteD1(db.connection)), TagClock(db, page_size=4)
    await writer.revalidate([f"/p{i}" for i in range(9)], ["posts"], STALE, NOW)
    await refresh(reader, NOW)
    assert reader.stats.queries == 3 and reader.stats.rows_read == 10
    assert all(reader.verdict(page(), f"/p{i}", NOW) is Verdict.STALE for i in range(9))
    assert reader.verdict(page(tags=("posts",)), "/x", NOW) is Verdict.STALE


async def test_revalidations_older_than_since_are_not_read(db: SqliteD1) -> None:
    writer = TagClock(SqliteD1(db.connection))
    await writer.revalidate([], ["old"], EXPIRE, NOW - 1000)
    await writer.revalidate([], ["new"], EXPIRE, NOW - 10)
    reader = TagClock(db, since=NOW - 500)
    await refresh(reader, NOW)
    assert reader.stats.rows_read == 1
    assert reader.verdict(page(NOW - 20, tags=("new",)), "/a", NOW) is Verdict.EXPIRED


async def test_when_d1_is_down_refreshes_back_off_and_make_no_call_meanwhile(
    db: SqliteD1,
) -> None:
    clock = TagClock(db, max_age=5.0, first_backoff=10.0, max_backoff=40.0)
    await clock.revalidate(["/a"], [], STALE, NOW)
    db.error = RuntimeError("D1_ERROR: network connection lost")
    assert await refresh(clock, NOW)
    calls = len(db.calls)
    assert not any([await refresh(clock, NOW + t) for t in (5, 9.99)])
    assert len(db.calls) == calls
    assert await refresh(clock, NOW + 10)  # fails again: the pause doubles to 20 s
    assert not await refresh(clock, NOW + 29.99)
    assert clock.stats.failures == 2 and len(db.calls) == calls + 1
    # Meanwhile the snapshot still holds what it knew.
    assert clock.verdict(page(), "/a", NOW + 20) is Verdict.STALE
    db.error = None
    assert await refresh(clock, NOW + 30)
    assert clock.loaded and clock.stats.failures == 2
    assert await refresh(clock, NOW + 35)  # the success cleared the back-off


async def test_a_refresh_that_does_not_answer_in_time_fails_without_raising(
    db: SqliteD1, clock: TagClock
) -> None:
    db.hang = True
    assert await refresh(clock, NOW)
    assert clock.stats.failures == 1 and not clock.loaded
    assert not clock.refresh_due(NOW + 1)


async def test_an_outage_logs_once_per_interval(
    db: SqliteD1, caplog: pytest.LogCaptureFixture
) -> None:
    clock = TagClock(db, first_backoff=1.0, max_backoff=1.0, log_interval=60.0)
    db.error = RuntimeError("D1 down")
    with caplog.at_level(logging.WARNING, logger="seeding"):
        for t in range(0, 60, 5):
            await refresh(clock, NOW + t)
    assert clock.stats.failures == 12
    assert len(caplog.records) == 1 and "D1 down" in caplog.text


async def test_a_revalidation_d1_does_not_take_reports_false_and_changes_nothing(
    db: SqliteD1, clock: TagClock
) -> None:
    db.error = RuntimeError("D1 down")
    assert not await clock.revalidate(["/a"], ["posts"], EXPIRE, NOW)
    assert clock.verdict(page(tags=("posts",)), "/a", NOW) is Verdict.FRESH
    db.error, db.hang = None, True
    assert not await clock.revalidate(["/a"], [], EXPIRE, NOW)
    db.hang = False
    assert db.rows("revalidations") == []


async def test_revalidating_nothing_makes_no_call(db: SqliteD1, clock: TagClock) -> None:
    assert await clock.revalidate([], [], STALE, NOW)
    assert db.calls == []


class RowsD1:
    """A D1 that answers the given rows once."""

    def __init__(self, rows: list[SqlRow]) -> None:
        self._rows = rows

    async def run(self, sql: str, params: Sequence[SqlValue]) -> int:
        raise AssertionError("not used")

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        rows, self._rows = self._rows, []
        return rows


async def test_malformed_rows_are_skipped_and_integral_floats_are_accepted() -> None:
    good: SqlRow = {"kind": "tag", "name": "ok", "stale_at": NOW, "expired_at": None, "seq": 7.0}
    rows: list[SqlRow] = [
        {**good, "kind": "route"},
        {**good, "name": 3},
        {**good, "stale_at": "soon"},
        {**good, "expired_at": "never"},
        {**good, "seq": 1.5},
        {**good, "name": "also-ok", "expired_at": NOW, "seq": 8},
        good,
    ]
    clock = TagClock(RowsD1(rows))
    await refresh(clock, NOW)
    assert clock.loaded and clock.stats.rows_read == 7
    assert clock.verdict(page(tags=("ok",)), "/a", NOW) is Verdict.STALE
    assert clock.verdict(page(tags=("also-ok",)), "/a", NOW) is Verdict.EXPIRED
    assert clock.verdict(page(tags=("route", "soon", "never")), "/a", NOW) is Verdict.FRESH


async def test_a_backlog_beyond_max_pages_is_read_on_by_the_next_claim(db: SqliteD1) -> None:
    writer = TagClock(SqliteD1(db.connection))
    reader = TagClock(db, max_age=5.0, page_size=2, max_pages=2)
    await writer.revalidate([f"/p{i}" for i in range(7)], [], STALE, NOW)
    await refresh(reader, NOW)
    assert reader.stats.rows_read == 4 and not reader.loaded
    assert reader.refresh_due(NOW)  # due at once, not after max_age
    await refresh(reader, NOW)
    assert reader.stats.rows_read == 7 and reader.loaded
    assert not reader.refresh_due(NOW + 1)
    assert all(reader.verdict(page(), f"/p{i}", NOW) is Verdict.STALE for i in range(7))


class SamePageD1(RowsD1):
    """A D1 whose answer never moves on: the same full page every time."""

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        return [dict(row) for row in self._rows]


async def test_an_answer_that_does_not_move_the_cursor_ends_the_refresh() -> None:
    row: SqlRow = {"kind": "tag", "name": "t", "stale_at": NOW, "expired_at": None, "seq": 1}
    clock = TagClock(SamePageD1([row, row]), page_size=2)
    await refresh(clock, NOW)
    await refresh(clock, NOW + 5)
    assert clock.stats.queries == 3 and clock.loaded


async def test_a_refresh_claimed_too_long_ago_for_the_bound_is_not_joined(db: SqliteD1) -> None:
    clock = TagClock(db, max_age=0.5, timeout=2.0)  # bound 1 s, below two timeouts
    claimed = clock.claim_refresh(NOW)
    assert claimed is not None
    await clock.refreshed(NOW + 1.5)  # that one has not run: refresh here instead
    assert clock.loaded and clock.age(NOW + 1.5) == 0.0
    await claimed  # the late one still runs, harmlessly
    assert clock.age(NOW + 1.5) == 0.0


async def test_awaiting_a_refresh_during_a_back_off_returns_at_once(db: SqliteD1) -> None:
    clock = TagClock(db, max_age=5.0, timeout=0.05, first_backoff=10.0)
    db.error = RuntimeError("D1 down")
    await clock.refreshed(NOW)
    calls = len(db.calls)
    await clock.refreshed(NOW + 9)
    assert len(db.calls) == calls and not clock.loaded
    db.error = None
    await clock.refreshed(NOW + 10)
    assert clock.loaded and clock.age(NOW + 10) == 0.0

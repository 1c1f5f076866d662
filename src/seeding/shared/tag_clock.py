"""On-demand revalidation times of paths and tags, in D1, read through a local snapshot.

`revalidate(paths, tags, mode, now)` records that pages of those route keys, and pages
carrying those tags, generated at or before `now` are stale ("stale": the next request
is served the old page once while it regenerates) or expired ("expire": the next request
renders), as Next.js's revalidatePath / revalidateTag. A path and a tag of the same name
are different marks. A tie counts as revalidated: a page made in the same instant may
have read the old data.

`verdict(entry, route, now)` is FRESH, STALE or EXPIRED: the entry's own `revalidate` /
`expire` times, and any mark on its route or one of its tags at or after its
`generated_at`. It reads only an isolate-local snapshot, never D1, so a memory hit never
waits on D1 and D1 bills nothing for it.

Consistency: the snapshot's age is the time since the start of the last refresh that
caught up with D1. Under `max_age` seconds (TAG_CACHE_SECONDS, 5 by default) it is
trusted as it is; from `max_age` on, a refresh is due, and a caller claims it
(`claim_refresh`, for `ctx.waitUntil`, or `refreshed`, to await it). Concurrent callers
share one refresh: `claim_refresh` answers None while one runs, and `refreshed` waits
for the running one (polling on the caller's own timers) instead of starting another,
unless it was claimed so long ago that its snapshot would be older than `bound`. A
revalidation thus reaches an isolate's snapshot within about `max_age` seconds of the
isolate's next request, and at once in the isolate that recorded it; `bound` (twice
`max_age`) is the age past which a caller should await a refresh before judging
(`seeding.shared.tier.SharedTier.ensure_loaded`). A refresh reads only the rows changed
since the previous one (every write takes a larger `seq`), in pages of `page_size` rows,
at most `max_pages` of them (a backlog is read on by the next claim, due at once), and
never rows older than `since` (pass the build time: no entry of a build is older, so no
older revalidation can concern it). Until a refresh has caught up (`loaded`), the
snapshot may lack marks; before the first, only an entry's own times count.

Faults: a refresh, all its pages together, is bounded by one `timeout`, and so is a
wait for a refresh that another caller runs; every other D1 call has the same timeout. A
failed refresh keeps the snapshot as it was and starts a back-off (doubling, capped)
during which no refresh is due, `refreshed` returns at once and no D1 call is made: the
snapshot may then grow older than `bound` until D1 answers (logged, at most once per
`log_interval`). `revalidate` is asked by an operator, so it always tries D1 and
reports failure as False. Nothing here raises into a request.

Growth: the table holds one row per path or tag ever revalidated. `prune` deletes rows
older than `since` by more than `KEEP_BEFORE_BUILD_SECONDS` (no entry of this build, or
of one deployed up to that long before it, can need them); the Worker's Cron Trigger
runs it (not `revalidate`, whose caller would wait on a second D1 call). With no build
(`since` 0) nothing is pruned: a page rendered at any time may still need its mark.
The schema is `migrations/0001_revalidations.sql`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from seeding.primitives.backoff import Backoff, LogThrottle
from seeding.primitives.cache import CacheEntry
from seeding.primitives.singleflight import poll_until
from seeding.shared.sql_database import SqlDatabase, SqlRow, SqlValue

PATH = "path"
TAG = "tag"

# The snapshot age, as a multiple of `max_age`, past which a caller awaits a refresh.
BOUND_FACTOR = 2.0
# Marks this much older than the build are pruned (a previous deploy may serve that long).
KEEP_BEFORE_BUILD_SECONDS = 7 * 24 * 3600.0

# All revalidated names in one statement: the lists travel as two JSON parameters (D1
# allows 100 bound parameters), and each row takes the next `seq` above the table's.
_RECORD_SQL = """
INSERT INTO revalidations (kind, name, stale_at, expired_at, seq)
SELECT kind, name, ?3, ?4, (SELECT COALESCE(MAX(seq), 0) FROM revalidations) + ROW_NUMBER() OVER ()
FROM (
    SELECT 'path' AS kind, value AS name FROM json_each(?1)
    UNION ALL
    SELECT 'tag', value FROM json_each(?2)
) WHERE true
ON CONFLICT (kind, name) DO UPDATE SET
    stale_at = MAX(stale_at, excluded.stale_at),
    expired_at = COALESCE(MAX(expired_at, excluded.expired_at), expired_at, excluded.expired_at),
    seq = excluded.seq
"""

_PRUNE_SQL = "DELETE FROM revalidations WHERE stale_at < ?1"

_CHANGES_SQL = """
SELECT kind, name, stale_at, expired_at, seq FROM revalidations
WHERE seq > ?1 AND stale_at >= ?2
ORDER BY seq LIMIT ?3
"""


class RevalidationMode(str, Enum):
    STALE = "stale"  # serve the old page once while it regenerates
    EXPIRE = "expire"  # the next request renders


class Verdict(str, Enum):
    FRESH = "fresh"
    STALE = "stale"
    EXPIRED = "expired"


def own_verdict(entry: CacheEntry, now: float) -> Verdict:
    """How `entry` may be served at `now` by its own revalidate and expire times alone."""
    if entry.is_expired(now):
        return Verdict.EXPIRED
    return Verdict.STALE if entry.is_stale(now) else Verdict.FRESH


@dataclass(frozen=True)
class _Mark:
    stale_at: float
    expired_at: float | None

    def merged(self, other: _Mark) -> _Mark:
        expired = [t for t in (self.expired_at, other.expired_at) if t is not None]
        return _Mark(max(self.stale_at, other.stale_at), max(expired) if expired else None)


class _Flight:
    """A refresh claimed and not finished."""

    __slots__ = ("claimed_at", "done")

    def __init__(self, claimed_at: float) -> None:
        self.claimed_at = claimed_at
        self.done = False


@dataclass
class TagClockStats:
    refreshes: int = 0  # completed
    queries: int = 0  # D1 reads
    rows_read: int = 0
    failures: int = 0  # failed or timed-out D1 calls
    writes: int = 0  # revalidations recorded
    pruned: int = 0  # rows deleted by `prune`


class TagClock:
    """See the module docstring."""

    def __init__(
        self,
        db: SqlDatabase,
        *,
        max_age: float = 5.0,
        since: float = 0.0,
        timeout: float = 2.0,
        page_size: int = 500,
        max_pages: int = 20,
        first_backoff: float = 5.0,
        max_backoff: float = 60.0,
        log_interval: float = 60.0,
    ) -> None:
        if min(max_age, timeout, page_size, max_pages) <= 0:
            raise ValueError("max_age, timeout, page_size and max_pages must be positive")
        self._db = db
        self._max_age = max_age
        self._since = since
        self._timeout = timeout
        self._page_size = page_size
        self._max_pages = max_pages
        self._backoff = Backoff(first_backoff, max_backoff)
        self._logs = LogThrottle(log_interval)
        self._marks: dict[tuple[str, str], _Mark] = {}
        self._cursor = 0  # the largest `seq` applied
        self._loaded_at = float("-inf")  # start of the last refresh that caught up
        self._flight: _Flight | None = None
        self.loaded = False  # a refresh has caught up
        self.stats = TagClockStats()

    @property
    def max_age(self) -> float:
        return self._max_age

    @property
    def bound(self) -> float:
        """The snapshot age past which a caller should await a refresh."""
        return self._max_age * BOUND_FACTOR

    @property
    def timeout(self) -> float:
        return self._timeout

    def age(self, now: float) -> float:
        """Seconds since the last refresh that caught up started (inf: none has)."""
        return now - self._loaded_at

    def verdict(self, entry: CacheEntry, route: str, now: float) -> Verdict:
        """How `entry`, the cached page of `route`, may be served at `now`."""
        own = own_verdict(entry, now)
        if own is Verdict.EXPIRED or not self._marks:
            return own
        stale = own is Verdict.STALE
        for mark in self._marks_of(entry, route):
            if mark.expired_at is not None and mark.expired_at >= entry.generated_at:
                return Verdict.EXPIRED
            stale = stale or mark.stale_at >= entry.generated_at
        return Verdict.STALE if stale else Verdict.FRESH

    def latest_mark(self, entry: CacheEntry, route: str) -> float | None:
        """The newest revalidation time of the route or one of the entry's tags, from
        the snapshot (None: none). Regenerations after different revalidations are
        told apart by it."""
        return max((mark.stale_at for mark in self._marks_of(entry, route)), default=None)

    def _marks_of(self, entry: CacheEntry, route: str) -> Iterator[_Mark]:
        """The revalidations recorded for the route or one of the entry's tags."""
        for key in ((PATH, route), *((TAG, tag) for tag in entry.tags)):
            mark = self._marks.get(key)
            if mark is not None:
                yield mark

    async def revalidate(
        self, paths: Iterable[str], tags: Iterable[str], mode: RevalidationMode, now: float
    ) -> bool:
        """Record a revalidation of route keys `paths` and cache tags `tags` at `now`,
        in D1 and in this isolate's snapshot. False (nothing recorded) when D1 failed
        or did not answer within the timeout."""
        path_list, tag_list = list(dict.fromkeys(paths)), list(dict.fromkeys(tags))
        if not path_list and not tag_list:
            return True
        expired_at = now if mode is RevalidationMode.EXPIRE else None
        params: list[SqlValue] = [json.dumps(path_list), json.dumps(tag_list), now, expired_at]
        try:
            await asyncio.wait_for(self._db.run(_RECORD_SQL, params), self._timeout)
        except Exception as exc:
            self.stats.failures += 1
            self._logs.warning("d1 write", now, f"revalidation not recorded in D1 ({exc!r})")
            return False
        self.stats.writes += 1
        mark = _Mark(now, expired_at)
        for key in [(PATH, p) for p in path_list] + [(TAG, t) for t in tag_list]:
            old = self._marks.get(key)
            self._marks[key] = mark if old is None else old.merged(mark)
        return True

    def refresh_due(self, now: float) -> bool:
        """True when the snapshot is `max_age` old or more, no refresh is running and
        no back-off holds."""
        return (
            self.age(now) >= self._max_age
            and self._running(now) is None
            and not self._backoff.blocked(now)
        )

    def claim_refresh(self, now: float) -> Coroutine[Any, Any, None] | None:
        """The refresh to run (pass it to `wait_until`, or await it), when one is due;
        None otherwise. Claiming marks it running, so concurrent requests claim one."""
        if not self.refresh_due(now):
            return None
        return self._start_refresh(now)

    async def refreshed(self, now: float) -> None:
        """Await a refresh of the snapshot: the one running, or one started now unless
        a back-off holds (then return at once). Returns within about one `timeout`;
        never raises."""
        flight = self._running(now)
        # A refresh claimed `bound` ago or more would leave the snapshot too old: not joined.
        if flight is not None and now - flight.claimed_at < self.bound:
            await poll_until(lambda: flight.done, self._timeout)
        elif not self._backoff.blocked(now):
            await self._start_refresh(now)

    async def prune(self, now: float) -> int:
        """Delete the rows no entry of this build can need (see the module docstring);
        how many went. Never raises: a failure is logged and counts 0."""
        if self._since <= 0:
            return 0
        cutoff = self._since - KEEP_BEFORE_BUILD_SECONDS
        try:
            deleted = await asyncio.wait_for(self._db.run(_PRUNE_SQL, [cutoff]), self._timeout)
        except Exception as exc:
            self.stats.failures += 1
            self._logs.warning("d1 prune", now, f"old revalidations not pruned in D1 ({exc!r})")
            return 0
        self.stats.pruned += deleted
        return deleted

    def _running(self, now: float) -> _Flight | None:
        """The refresh in flight. One claimed more than two timeouts ago and not done
        never started (its coroutine was dropped): it is forgotten, not waited on."""
        flight = self._flight
        if flight is None or flight.done or now > flight.claimed_at + 2 * self._timeout:
            return None
        return flight

    def _start_refresh(self, now: float) -> Coroutine[Any, Any, None]:
        flight = _Flight(now)
        self._flight = flight
        return self._refresh(now, flight)

    async def _refresh(self, now: float, flight: _Flight) -> None:
        try:
            caught_up = await asyncio.wait_for(self._read_changes(now), self._timeout)
        except Exception as exc:
            self.stats.failures += 1
            pause = self._backoff.failed(now)
            self._logs.warning(
                "d1 read",
                now,
                f"revalidation times not refreshed from D1 ({_describe(exc)}); "
                f"serving on the snapshot, next try in {pause:.0f} s",
            )
        else:
            self._backoff.succeeded()
            self.stats.refreshes += 1
            if caught_up:  # else more rows wait: still due, the next claim reads on
                self.loaded = True
                self._loaded_at = max(self._loaded_at, now)
        finally:
            flight.done = True
            if self._flight is flight:
                self._flight = None

    async def _read_changes(self, now: float) -> bool:
        """Apply changed rows, up to `max_pages` pages; True when none are left. Each
        page is applied as it comes, so a timeout keeps the pages read before it."""
        for _ in range(self._max_pages):
            cursor = self._cursor
            params: list[SqlValue] = [cursor, self._since, self._page_size]
            rows = await self._db.all(_CHANGES_SQL, params)
            self.stats.queries += 1
            self.stats.rows_read += len(rows)
            self._apply(rows, now)
            # A page that moved the cursor nowhere cannot be followed by another.
            if len(rows) < self._page_size or self._cursor == cursor:
                return True
        return False

    def _apply(self, rows: list[SqlRow], now: float) -> None:
        for row in rows:
            parsed = _parse_row(row)
            if parsed is None:
                self._logs.warning("d1 row", now, f"ignored a malformed revalidations row {row!r}")
                continue
            key, mark, seq = parsed
            # Row values only grow, so the row replaces the snapshot's mark; merging
            # keeps a newer local write that the row predates.
            old = self._marks.get(key)
            self._marks[key] = mark if old is None else old.merged(mark)
            self._cursor = max(self._cursor, seq)


# ---------------------------------------------------------------------------------------


def _parse_row(row: SqlRow) -> tuple[tuple[str, str], _Mark, int] | None:
    kind, name = row.get("kind"), row.get("name")
    stale_at, seq = _number(row.get("stale_at")), _number(row.get("seq"))
    raw_expired = row.get("expired_at")
    expired_at = None if raw_expired is None else _number(raw_expired)
    if not (isinstance(kind, str) and kind in (PATH, TAG) and isinstance(name, str)):
        return None
    if stale_at is None or (raw_expired is not None and expired_at is None):
        return None
    if seq is None or seq != int(seq):  # D1 may hand integers over as floats
        return None
    return (kind, name), _Mark(stale_at, expired_at), int(seq)


def _describe(exc: BaseException) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else repr(exc)


def _number(value: SqlValue) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

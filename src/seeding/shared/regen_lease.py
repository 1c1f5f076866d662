""" "Being regenerated", across isolates: a lease row in D1 that lasts `duration` seconds.

`try_acquire(key, holder, now)` is one conditional upsert: it inserts the key's row, or
takes it over when its `expires_at` has passed, and D1 reports one changed row exactly
when this caller won. The lease lasts `duration` (`LEASE_SECONDS`, 30 s: as long as
`ctx.waitUntil` lets a regeneration run after its response), never the page's revalidate
window: it says a regeneration is under way, not that one happened lately (that is the
page's `generatedAt` in KV). So a holder that dies blocks the key for `duration` at most,
whatever the page's window; there is no renewal. `release(key, holder, now)` gives it
back early, for a regeneration that failed or was cancelled; a successful one keeps it
until it lapses, which covers most of the time KV takes to spread the new page. The
caller keys a lease by the generation being replaced (`SharedTier`), so a kept lease
never delays the regeneration of the next one.

Per isolate, an answer is remembered (a bounded `ExpiringMap`): after winning, the key
is not asked again until the lease ends; after losing, not for `recheck_s` seconds (1 by
default). A stale page under load thus costs D1 at most one call per key per second per
isolate, not one per request.

Growth: a lease row outlives its lease until pruned. `prune(now)` deletes every expired
row; `try_acquire` runs it at most once per `PRUNE_INTERVAL_SECONDS` (60) per isolate,
after a D1 answer, and the Worker's Cron Trigger too. Every isolate that takes a lease
has thus pruned within the last interval, so just after any acquisition the table holds
only rows taken in the last `duration + PRUNE_INTERVAL_SECONDS` seconds (90 s): at most
the number of regenerations started in that time.

Faults: each D1 call has a timeout. When D1 fails or does not answer, the caller
regenerates as it would without D1: `try_acquire` answers True once per key per lease in
this isolate (at most one regeneration per isolate at a time, as without D1), and a
back-off (doubling, capped) starts during which that local answer is given without
calling D1. Failures log at most once per `log_interval`. Nothing here raises. The schema
is `migrations/0002_regeneration_leases.sql`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from seeding.primitives.backoff import Backoff, LogThrottle
from seeding.primitives.expiring import ExpiringMap
from seeding.shared.sql_database import SqlDatabase

# How long a lease lasts: the time `ctx.waitUntil` gives a regeneration after its response.
LEASE_SECONDS = 30.0
PRUNE_INTERVAL_SECONDS = 60.0

_ACQUIRE_SQL = """
INSERT INTO regeneration_leases (key, holder, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE regeneration_leases.expires_at <= ?4
"""

_RELEASE_SQL = "DELETE FROM regeneration_leases WHERE key = ?1 AND holder = ?2"

_PRUNE_SQL = "DELETE FROM regeneration_leases WHERE expires_at <= ?1"

# Answers remembered at once per isolate.
_MAX_ANSWERS = 4096


@dataclass
class LeaseStats:
    acquired: int = 0  # won in D1
    refused: int = 0  # lost in D1
    remembered: int = 0  # answered False from this isolate's memory, no D1 call
    local: int = 0  # granted locally because D1 failed or is backed off
    failures: int = 0  # failed or timed-out D1 calls
    pruned: int = 0  # expired rows deleted


class RegenerationLease:
    """See the module docstring."""

    def __init__(
        self,
        db: SqlDatabase,
        *,
        duration: float = LEASE_SECONDS,
        recheck_s: float = 1.0,
        timeout: float = 2.0,
        first_backoff: float = 5.0,
        max_backoff: float = 60.0,
        log_interval: float = 60.0,
    ) -> None:
        if min(duration, recheck_s, timeout) <= 0:
            raise ValueError("duration, recheck_s and timeout must be positive")
        self._db = db
        self._duration = duration
        self._recheck_s = recheck_s
        self._timeout = timeout
        self._backoff = Backoff(first_backoff, max_backoff)
        self._logs = LogThrottle(log_interval)
        self._ask_again_at: ExpiringMap[str, None] = ExpiringMap(_MAX_ANSWERS)
        self._next_prune = float("-inf")
        self.stats = LeaseStats()

    @property
    def duration(self) -> float:
        return self._duration

    async def try_acquire(self, key: str, holder: str, now: float) -> bool:
        """True when `holder` may regenerate `key` now: it holds the lease until
        `now + duration`, or D1 is unavailable and this isolate has not been granted
        `key` within the last `duration`. Never raises."""
        if self._ask_again_at.contains(key, now):
            self.stats.remembered += 1
            return False
        if self._backoff.blocked(now):
            return self._grant_locally(key, now)
        try:
            changes = await asyncio.wait_for(
                self._db.run(_ACQUIRE_SQL, [key, holder, now + self._duration, now]),
                self._timeout,
            )
            if changes not in (0, 1):
                raise ValueError(f"D1 reported {changes!r} changed rows for one lease row")
        except Exception as exc:
            self._failed(now, exc)
            return self._grant_locally(key, now)
        self._backoff.succeeded()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL_SECONDS
            await self.prune(now)
        if changes == 1:
            self.stats.acquired += 1
            self._remember(key, now + self._duration, now)
            return True
        self.stats.refused += 1
        self._remember(key, now + min(self._duration, self._recheck_s), now)
        return False

    async def release(self, key: str, holder: str, now: float) -> bool:
        """Give up `holder`'s lease on `key` (after a failed or cancelled
        regeneration), so any isolate may try again at once. True when D1 confirmed; a
        lease held by another holder is left alone. Never raises."""
        self._ask_again_at.discard(key)
        if self._backoff.blocked(now):
            return False
        try:
            await asyncio.wait_for(self._db.run(_RELEASE_SQL, [key, holder]), self._timeout)
        except Exception as exc:
            self._failed(now, exc)
            return False
        return True

    async def prune(self, now: float) -> int:
        """Delete every lease row expired at `now`; how many went. Never raises: a
        failure is logged (it starts no back-off) and counts 0."""
        try:
            deleted = await asyncio.wait_for(self._db.run(_PRUNE_SQL, [now]), self._timeout)
        except Exception as exc:
            self.stats.failures += 1
            self._logs.warning("d1 lease prune", now, f"expired leases not pruned ({exc!r})")
            return 0
        self.stats.pruned += deleted
        return deleted

    def _grant_locally(self, key: str, now: float) -> bool:
        self.stats.local += 1
        self._remember(key, now + self._duration, now)
        return True

    def _failed(self, now: float, exc: Exception) -> None:
        self.stats.failures += 1
        pause = self._backoff.failed(now)
        self._logs.warning(
            "d1 lease",
            now,
            f"regeneration lease not reachable in D1 ({exc!r}); regenerating per isolate "
            f"without it, next try in {pause:.0f} s",
        )

    def _remember(self, key: str, until: float, now: float) -> None:
        self._ask_again_at.set(key, None, expires_at=until, now=now)

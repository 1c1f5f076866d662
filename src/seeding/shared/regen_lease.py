"""One regeneration per key per window across isolates: a lease row in D1.

`try_acquire(key, holder, window_s, now)` is one conditional upsert: it inserts the
key's row, or takes it over when its `expires_at` has passed, and D1 reports one changed
row exactly when this caller won. The lease expires by itself, so a holder that dies
blocks the key for at most one window; there is no renewal. `release(key, holder, now)`
gives it back early, for a regeneration that failed; a successful one keeps its lease
until the window ends, so isolates that still read the old page (KV takes up to a minute
to spread) do not regenerate it again.

Per isolate, an answer is remembered: after winning, the key is not asked again until
the window ends; after losing, not for `recheck_s` seconds (1 by default). A stale page
under load thus costs D1 at most one call per key per second per isolate, not one per
request.

Faults: each D1 call has a timeout. When D1 fails or does not answer, the caller
regenerates as it would without D1: `try_acquire` answers True once per key per window in
this isolate (the pre-D1 behaviour, at most one regeneration per isolate per window), and
a back-off (doubling, capped) starts during which that local answer is given without
calling D1. Failures log at most once per `log_interval`. Nothing here raises. The schema
is `migrations/0002_regeneration_leases.sql`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from seeding.primitives.backoff import Backoff, LogThrottle
from seeding.shared.sql_database import SqlDatabase

_ACQUIRE_SQL = """
INSERT INTO regeneration_leases (key, holder, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE regeneration_leases.expires_at <= ?4
"""

_RELEASE_SQL = "DELETE FROM regeneration_leases WHERE key = ?1 AND holder = ?2"

# Past this many remembered answers, the ones no longer in force are dropped.
_ANSWERS_PRUNE_AT = 1024


@dataclass
class LeaseStats:
    acquired: int = 0  # won in D1
    refused: int = 0  # lost in D1
    remembered: int = 0  # answered False from this isolate's memory, no D1 call
    local: int = 0  # granted locally because D1 failed or is backed off
    failures: int = 0  # failed or timed-out D1 calls


class RegenerationLease:
    """See the module docstring."""

    def __init__(
        self,
        db: SqlDatabase,
        *,
        recheck_s: float = 1.0,
        timeout: float = 2.0,
        first_backoff: float = 5.0,
        max_backoff: float = 60.0,
        log_interval: float = 60.0,
    ) -> None:
        self._db = db
        self._recheck_s = recheck_s
        self._timeout = timeout
        self._backoff = Backoff(first_backoff, max_backoff)
        self._logs = LogThrottle(log_interval)
        self._ask_again_at: dict[str, float] = {}
        self.stats = LeaseStats()

    async def try_acquire(self, key: str, holder: str, window_s: float, now: float) -> bool:
        """True when `holder` may regenerate `key` now: it holds the lease until
        `now + window_s`, or D1 is unavailable and this isolate has not regenerated
        `key` in the last window. Never raises."""
        if now < self._ask_again_at.get(key, float("-inf")):
            self.stats.remembered += 1
            return False
        if self._backoff.blocked(now):
            return self._grant_locally(key, window_s, now)
        try:
            changes = await asyncio.wait_for(
                self._db.run(_ACQUIRE_SQL, [key, holder, now + window_s, now]), self._timeout
            )
            if changes not in (0, 1):
                raise ValueError(f"D1 reported {changes!r} changed rows for one lease row")
        except Exception as exc:
            self._failed(now, exc)
            return self._grant_locally(key, window_s, now)
        self._backoff.succeeded()
        if changes == 1:
            self.stats.acquired += 1
            self._remember(key, now + window_s, now)
            return True
        self.stats.refused += 1
        self._remember(key, now + min(window_s, self._recheck_s), now)
        return False

    async def release(self, key: str, holder: str, now: float) -> bool:
        """Give up `holder`'s lease on `key` (after a failed regeneration), so any
        isolate may try again at once. True when D1 confirmed; a lease held by another
        holder is left alone. Never raises."""
        self._ask_again_at.pop(key, None)
        if self._backoff.blocked(now):
            return False
        try:
            await asyncio.wait_for(self._db.run(_RELEASE_SQL, [key, holder]), self._timeout)
        except Exception as exc:
            self._failed(now, exc)
            return False
        return True

    def _grant_locally(self, key: str, window_s: float, now: float) -> bool:
        self.stats.local += 1
        self._remember(key, now + window_s, now)
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
        if len(self._ask_again_at) >= _ANSWERS_PRUNE_AT:
            self._ask_again_at = {k: t for k, t in self._ask_again_at.items() if t > now}
        self._ask_again_at[key] = until

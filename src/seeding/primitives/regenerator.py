"""Background regeneration of stale pages, per isolate: at most one running per cache key;
after a failure a back-off (`seeding.primitives.backoff.Backoff`: doubling up to a
ceiling), so a broken renderer is not hammered while the last good page keeps being
served; and after a regeneration that deferred to another isolate (it did not win the
shared lease), a short pause before this isolate asks again. A key's failures are
forgotten after one ceiling without a try past its pause, and at most
`MAX_PAUSED_KEYS` keys are remembered (`ExpiringMap`), so the state is bounded.

`claim(key, work)` hands back the coroutine to give `ctx.waitUntil`, or None when one is
running for the key or its pause has not passed. `work` returns True when it is done
(a new page stored, or a newer one found: it says which in the log itself), False when
another isolate has it; it may raise, which counts as a failure. Nothing escapes the
coroutine: a failure is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from seeding.primitives.backoff import Backoff
from seeding.primitives.cache import shown_key
from seeding.primitives.expiring import ExpiringMap

log = logging.getLogger("seeding")

# Keys remembered at once: failing or paused ones (the running ones are few).
MAX_PAUSED_KEYS = 4096


class Regenerator:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        first_backoff: float = 2.0,
        max_backoff: float = 60.0,
        deferred_pause: float = 1.0,
    ) -> None:
        self._clock = clock
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._deferred_pause = deferred_pause
        self._running: set[str] = set()
        # A failing key's back-off, kept through its pause and one `max_backoff` more: a
        # key that fails again within that doubles its pause, one quiet longer starts over.
        self._backoffs: ExpiringMap[str, Backoff] = ExpiringMap(MAX_PAUSED_KEYS)
        self._deferred: ExpiringMap[str, None] = ExpiringMap(MAX_PAUSED_KEYS)
        self.started = 0
        self.deferred = 0

    def is_running(self, key: str) -> bool:
        return key in self._running

    def claim(self, key: str, work: Callable[[], Awaitable[bool]]) -> Awaitable[None] | None:
        """A coroutine that regenerates `key`, for `ctx.waitUntil`; None when one is
        already running for `key` or its pause has not passed."""
        now = self._clock()
        if key in self._running or self._deferred.contains(key, now):
            return None
        backoff = self._backoffs.get(key, now)
        if backoff is not None and backoff.blocked(now):
            return None
        self._running.add(key)
        self.started += 1
        return self._run(key, work)

    async def _run(self, key: str, work: Callable[[], Awaitable[bool]]) -> None:
        try:
            done = await work()
        except Exception as exc:
            now = self._clock()
            backoff = self._backoffs.get(key, now) or Backoff(
                self._first_backoff, self._max_backoff
            )
            delay = backoff.failed(now)
            self._backoffs.set(key, backoff, expires_at=backoff.until + self._max_backoff, now=now)
            log.error(
                "seeding: regeneration of %s failed (%r); keeping the last good page, "
                "next try in %.0f s",
                shown_key(key),
                exc,
                delay,
            )
        else:
            self._backoffs.discard(key)
            if not done:
                self.deferred += 1
                now = self._clock()
                self._deferred.set(key, None, expires_at=now + self._deferred_pause, now=now)
        finally:
            self._running.discard(key)

"""Background regeneration of stale pages, per isolate: at most one running per cache key;
after a failure a back-off that doubles up to a ceiling, so a broken renderer is not
hammered while the last good page keeps being served; and after a regeneration that
deferred to another isolate (it did not win the shared lease), a short pause before this
isolate asks again.

`claim(key, work)` hands back the coroutine to give `ctx.waitUntil`, or None when one is
running for the key or its pause has not passed. `work` returns True when it is done
(a new page stored, or a newer one found: it says which in the log itself), False when
another isolate has it; it may raise, which counts as a failure. Nothing escapes the
coroutine: a failure is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from seeding.primitives.cache import shown_key

log = logging.getLogger("seeding")


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
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self.started = 0
        self.deferred = 0

    def is_running(self, key: str) -> bool:
        return key in self._running

    def claim(self, key: str, work: Callable[[], Awaitable[bool]]) -> Awaitable[None] | None:
        """A coroutine that regenerates `key`, for `ctx.waitUntil`; None when one is
        already running for `key` or its pause has not passed."""
        if key in self._running or self._clock() < self._not_before.get(key, float("-inf")):
            return None
        self._running.add(key)
        self.started += 1
        return self._run(key, work)

    async def _run(self, key: str, work: Callable[[], Awaitable[bool]]) -> None:
        try:
            done = await work()
        except Exception as exc:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(self._max_backoff, self._first_backoff * 2 ** (failures - 1))
            self._not_before[key] = self._clock() + delay
            log.error(
                "seeding: regeneration of %s failed (%r); keeping the last good page, "
                "next try in %.0f s",
                shown_key(key),
                exc,
                delay,
            )
        else:
            self._failures.pop(key, None)
            if done:
                self._not_before.pop(key, None)
            else:
                self.deferred += 1
                self._not_before[key] = self._clock() + self._deferred_pause
        finally:
            self._running.discard(key)

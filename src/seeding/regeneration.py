"""Background regeneration of stale pages: at most one per cache key per isolate, and
after a failure a back-off that doubles up to a ceiling, so a broken renderer is not
hammered while the last good page keeps being served."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("seeding")


class Regenerator:
    def __init__(
        self, clock: Callable[[], float], *, first_backoff: float = 2.0, max_backoff: float = 60.0
    ) -> None:
        self._clock = clock
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._running: set[str] = set()
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self.started = 0

    def is_running(self, key: str) -> bool:
        return key in self._running

    def claim(self, key: str, work: Callable[[], Awaitable[None]]) -> Awaitable[None] | None:
        """A coroutine that regenerates `key`, for `ctx.waitUntil`; None when one is
        already running for `key` or its back-off has not passed."""
        if key in self._running or self._clock() < self._not_before.get(key, float("-inf")):
            return None
        self._running.add(key)
        self.started += 1
        return self._run(key, work)

    async def _run(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception as exc:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(self._max_backoff, self._first_backoff * 2 ** (failures - 1))
            self._not_before[key] = self._clock() + delay
            log.error(
                "seeding: regeneration of %s failed (%r); keeping the last good page, "
                "next try in %.0f s",
                key.replace("\x00", " "),
                exc,
                delay,
            )
        else:
            self._failures.pop(key, None)
            self._not_before.pop(key, None)
            log.info("seeding: regenerated %s", key.replace("\x00", " "))
        finally:
            self._running.discard(key)

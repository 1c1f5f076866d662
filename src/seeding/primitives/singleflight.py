"""One call in flight per key: concurrent callers share the first caller's result.

The first caller (the leader) runs the work in its own request, so its I/O belongs to
that request. The others wait by polling on their own timers rather than awaiting a
future the leader resolves: in Workers, a coroutine woken by another request's
future continues inside that request's I/O context, and the response it then builds
fails with "Cannot perform I/O on behalf of a different request". A timer set by the
waiter fires in the waiter's own context.

If the leader is cancelled, fails, or outlasts `max_wait`, the waiters get `fallback`
instead of an exception: seeding is best effort and must never raise into another
request. `poll_until` is that wait on its own, for a caller that keeps its own flag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

FIRST_POLL_S = 0.001
MAX_POLL_S = 0.02


class _Call(Generic[V]):
    __slots__ = ("done", "result")

    def __init__(self, fallback: V) -> None:
        self.done = False
        self.result = fallback


async def poll_until(done: Callable[[], bool], max_wait: float) -> bool:
    """Wait on this task's own timers until `done()` is true (True) or about `max_wait`
    seconds have passed (False)."""
    delay = FIRST_POLL_S
    waited = 0.0
    while not done():
        if waited >= max_wait:
            return False
        await asyncio.sleep(delay)
        waited += delay
        delay = min(MAX_POLL_S, delay * 1.5)
    return True


class SingleFlight(Generic[K, V]):
    def __init__(self, max_wait: float = 30.0) -> None:
        self._calls: dict[K, _Call[V]] = {}
        self._max_wait = max_wait

    def in_flight(self, key: K) -> bool:
        return key in self._calls

    async def run(self, key: K, work: Callable[[], Awaitable[V]], fallback: V) -> V:
        call = self._calls.get(key)
        if call is not None:
            return await self._wait(call, fallback)
        call = _Call(fallback)
        self._calls[key] = call
        try:
            call.result = await work()
            return call.result
        finally:
            call.done = True
            del self._calls[key]

    async def _wait(self, call: _Call[V], fallback: V) -> V:
        if not await poll_until(lambda: call.done, self._max_wait):
            return fallback
        return call.result

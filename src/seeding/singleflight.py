"""One call in flight per key: concurrent callers share the first caller's result.

The first caller (the leader) runs the work in its own request, so its I/O belongs to
that request; the others only await a Python future. If the leader is cancelled or
fails, the waiters get `fallback` instead of an exception: seeding is best effort and
must never raise into another request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}

    def in_flight(self, key: K) -> bool:
        return key in self._calls

    async def run(self, key: K, work: Callable[[], Awaitable[V]], fallback: V) -> V:
        pending = self._calls.get(key)
        if pending is not None:
            # shield: a waiter being cancelled must not cancel the shared future.
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            result = await work()
        except BaseException:
            future.set_result(fallback)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._calls[key]

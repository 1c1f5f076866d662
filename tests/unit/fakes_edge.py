"""A stand-in for `ctx.cache` (Workers Cache's purge API) with fault injection: each call
is logged; `results` (popped in order) says how calls resolve, and an exception in it is
raised instead. Once `results` is empty every call succeeds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from seeding.edge.purge import PurgeOptions, PurgeResult


@dataclass
class FakeEdgeCache:
    results: list[PurgeResult | Exception] = field(default_factory=list)
    calls: list[tuple[str, PurgeOptions]] = field(default_factory=list)
    hang: bool = False

    async def purge(self, options: PurgeOptions) -> PurgeResult:
        return await self._answer("purge", options)

    async def invalidate(self, options: PurgeOptions) -> PurgeResult:
        return await self._answer("invalidate", options)

    async def _answer(self, method: str, options: PurgeOptions) -> PurgeResult:
        self.calls.append((method, options))
        if self.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(0)
        outcome = self.results.pop(0) if self.results else PurgeResult(True)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def tags_sent(self, method: str | None = None) -> list[str]:
        return [t for m, o in self.calls if method in (None, m) for t in o.tags]


RATE_LIMITED = PurgeResult(False, ("10429: purge rate limit exceeded",))


class Pauses:
    """An `asyncio.sleep` stand-in that records the pauses and returns at once."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        await asyncio.sleep(0)

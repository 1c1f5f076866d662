"""The one loader of private build files through `ASSETS`: fetch once per isolate,
retry the transient, remember the permanent.

- concurrent callers for the same file share one fetch (`SingleFlight`);
- a transient failure (the fetch raised, 5xx or 429, a body that failed to read) is
  retried by a later request, at most once per `retry_interval` seconds for that file;
- a permanent failure (any other status, or `parse` raising anything at all: whatever
  the bytes hold, they will hold it again) is remembered for the isolate and logged
  once, with what it means for the site (`consequence`).

`load` never raises into a request (but for cancellation): a file that cannot be had
is None, and the caller renders instead. A successful parse is handed to every
waiting caller and not kept: what to keep is the caller's choice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from seeding.primitives.singleflight import SingleFlight
from seeding.seed.assets import AssetFetcher, Failure, read_asset

log = logging.getLogger("seeding")

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class DocumentLoader(Generic[K, T]):
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        what: str,
        consequence: str,
        retry_interval: float = 1.0,
    ) -> None:
        self._clock = clock
        self._what = what
        self._consequence = consequence
        self._retry_interval = retry_interval
        self._retry_at: dict[K, float] = {}
        self._flight: SingleFlight[K, T | None] = SingleFlight()
        self.errors: dict[K, str] = {}  # permanent failures, by file
        self.fetches = 0
        self.bytes_fetched = 0

    async def load(
        self, fetcher: AssetFetcher, key: K, path: str, parse: Callable[[bytes], T]
    ) -> T | None:
        """The parsed file at `path`, or None while it cannot be had."""
        if key in self.errors:
            return None
        waiting = self._clock() < self._retry_at.get(key, float("-inf"))
        if waiting and not self._flight.in_flight(key):
            return None
        return await self._flight.run(key, lambda: self._load(fetcher, key, path, parse), None)

    async def _load(
        self, fetcher: AssetFetcher, key: K, path: str, parse: Callable[[bytes], T]
    ) -> T | None:
        self.fetches += 1
        result = await read_asset(fetcher, path)
        if result.body is None:
            if result.failure is Failure.PERMANENT:
                self._fail(key, f"{self._what} unavailable: {result.reason}")
            else:
                self._retry_at[key] = self._clock() + self._retry_interval
                log.warning("seeding: %s fetch failed, will retry: %s", self._what, result.reason)
            return None
        self.bytes_fetched += len(result.body)
        try:
            document = parse(result.body)
        except Exception as exc:
            self._fail(key, f"{self._what} rejected: {exc}")
            return None
        self._retry_at.pop(key, None)
        return document

    def retrying(self) -> frozenset[K]:
        """The files whose last fetch failed transiently and that have not been had
        since: a later load retries them."""
        return frozenset(self._retry_at)

    def _fail(self, key: K, reason: str) -> None:
        self.errors[key] = reason
        log.error("seeding: %s; %s", reason, self._consequence)

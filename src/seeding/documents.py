"""Reading the build's private index documents (the manifest, build.json, shards)
through `ASSETS`, with one set of loading rules for all of them:

- concurrent callers for the same document share one fetch;
- a transient failure (exception, 5xx/429, body that fails to read) is retried by a
  later request, at most once per `retry_interval` seconds for that document;
- a permanent failure (4xx, invalid or unknown content: `parse` raising
  `ManifestError`) is remembered for the isolate and logged once, with what it means
  for the site (`consequence`).

Nothing here raises into a request: a document that cannot be had is None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from seeding.assets import AssetFetcher, Failure, read_asset
from seeding.manifest import ManifestError
from seeding.singleflight import SingleFlight

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
        unavailable_hint: str = "",
        retry_interval: float = 1.0,
    ) -> None:
        self._clock = clock
        self._what = what
        self._consequence = consequence
        self._unavailable_hint = unavailable_hint
        self._retry_interval = retry_interval
        self._retry_at: dict[K, float] = {}
        self._flight: SingleFlight[K, T | None] = SingleFlight()
        self.errors: dict[K, str] = {}  # permanent failures, by document
        self.fetches = 0

    async def load(
        self, fetcher: AssetFetcher, key: K, path: str, parse: Callable[[bytes], T]
    ) -> T | None:
        """The parsed document at `path`, or None while it cannot be had."""
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
                self._fail(
                    key, f"{self._what} unavailable: {result.reason}{self._unavailable_hint}"
                )
            else:
                self._retry_at[key] = self._clock() + self._retry_interval
                log.warning("seeding: %s fetch failed, will retry: %s", self._what, result.reason)
            return None
        try:
            document = parse(result.body)
        except ManifestError as exc:
            self._fail(key, f"{self._what} rejected: {exc}")
            return None
        self._retry_at.pop(key, None)
        return document

    def _fail(self, key: K, reason: str) -> None:
        self.errors[key] = reason
        log.error("seeding: %s; %s", reason, self._consequence)


def check_site_config(source: str, actual: tuple[str, bool], expected: tuple[str, bool]) -> None:
    """Raise `ManifestError` when the build was made for another basePath or
    trailing-slash setting than the Worker's site config: its routes would not match."""
    if actual != expected:
        raise ManifestError(
            source,
            "basePath/trailingSlash",
            f"are {actual}, the site is configured with {expected}",
            "rebuild and redeploy",
        )

"""Where the seeder learns which routes the build prerendered.

`RouteIndex` is the seam: the handler asks for the build's facts and for one route's
record. `ManifestIndex` answers both from the single manifest, fetched once per
isolate: the baseline, whose first lookup costs the whole site's manifest (at 100,000
routes tens of MB, over the 25 MiB asset limit). `seeding.sharded_index.ShardedIndex`
(the default) reads a small build.json and one shard per lookup instead, at the same
cost for any site size. ManifestIndex's loading rules:

- concurrent first callers share one fetch;
- a transient failure (exception, 5xx, body that fails to read) is retried by a
  later request, at most once per `retry_interval` seconds so an outage is not
  hammered;
- a permanent failure (404, invalid JSON, unknown schema version, a manifest that
  disagrees with the site's config) is remembered for the isolate and logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from seeding.assets import AssetFetcher, Failure, read_asset
from seeding.manifest import (
    BuildInfo,
    ManifestError,
    PrerenderManifest,
    RouteRecord,
    parse_manifest,
)
from seeding.routes import MANIFEST_FILE, asset_path
from seeding.singleflight import SingleFlight

log = logging.getLogger("seeding")

MANIFEST_ASSET_PATH = asset_path(MANIFEST_FILE)


class RouteIndex(Protocol):
    async def build(self, fetcher: AssetFetcher) -> BuildInfo | None:
        """The deployed build's facts, or None while the index is unavailable."""
        ...

    async def route(self, fetcher: AssetFetcher, route: str) -> RouteRecord | None:
        """The build's record of `route`, or None if unlisted or unavailable."""
        ...


class ManifestIndex:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        base_path: str = "",
        trailing_slash: bool = False,
        retry_interval: float = 1.0,
    ) -> None:
        self._clock = clock
        self._expected = (base_path, trailing_slash)
        self._retry_interval = retry_interval
        self._manifest: PrerenderManifest | None = None
        self._permanent_error: str | None = None
        self._next_attempt_at = float("-inf")
        self._flight: SingleFlight[str, PrerenderManifest | None] = SingleFlight()
        self.fetches = 0

    @property
    def permanent_error(self) -> str | None:
        return self._permanent_error

    async def manifest(self, fetcher: AssetFetcher) -> PrerenderManifest | None:
        if self._manifest is not None or self._permanent_error is not None:
            return self._manifest
        if self._clock() < self._next_attempt_at and not self._flight.in_flight("manifest"):
            return None
        return await self._flight.run("manifest", lambda: self._load(fetcher), None)

    async def build(self, fetcher: AssetFetcher) -> BuildInfo | None:
        manifest = await self.manifest(fetcher)
        return manifest.build if manifest is not None else None

    async def route(self, fetcher: AssetFetcher, route: str) -> RouteRecord | None:
        manifest = await self.manifest(fetcher)
        return manifest.routes.get(route) if manifest is not None else None

    async def _load(self, fetcher: AssetFetcher) -> PrerenderManifest | None:
        self.fetches += 1
        result = await read_asset(fetcher, MANIFEST_ASSET_PATH)
        if result.body is None:
            if result.failure is Failure.PERMANENT:
                self._fail_permanently(f"manifest unavailable: {result.reason}")
                return None
            self._next_attempt_at = self._clock() + self._retry_interval
            log.warning("seeding: manifest fetch failed, will retry: %s", result.reason)
            return None
        try:
            manifest = parse_manifest(result.body, MANIFEST_ASSET_PATH)
        except ManifestError as exc:
            self._fail_permanently(f"manifest rejected: {exc}")
            return None
        actual = (manifest.base_path, manifest.trailing_slash)
        if actual != self._expected:
            self._fail_permanently(
                f"manifest rejected: {MANIFEST_ASSET_PATH}: basePath/trailingSlash are {actual}, "
                f"the site is configured with {self._expected} (rebuild and redeploy)"
            )
            return None
        self._manifest = manifest
        log.info(
            "seeding: manifest of build %s loaded, %d routes",
            manifest.build_id,
            len(manifest.routes),
        )
        return manifest

    def _fail_permanently(self, reason: str) -> None:
        self._permanent_error = reason
        log.error("seeding: %s; serving every page through the renderer", reason)

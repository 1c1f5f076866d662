"""Where the seeder learns which routes the build prerendered.

`RouteIndex` is the seam: the handler asks for the build's facts and for one route's
record. `ManifestIndex` answers both from the single manifest, fetched once per
isolate: the baseline, whose first lookup costs the whole site's manifest (at 100,000
routes tens of MB, over the 25 MiB asset limit). `seeding.sharded_index.ShardedIndex`
(the default) reads a small build.json and one shard per lookup instead, at the same
cost for any site size. Both load their documents by the rules of
`seeding.documents.DocumentLoader` (one fetch shared by concurrent callers; transient
failures retried later; permanent ones remembered and logged once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from seeding.assets import AssetFetcher
from seeding.documents import DocumentLoader, check_site_config
from seeding.manifest import BuildInfo, PrerenderManifest, RouteRecord, parse_manifest
from seeding.routes import MANIFEST_FILE, asset_path

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
        self._expected = (base_path, trailing_slash)
        self._manifest: PrerenderManifest | None = None
        self._loader: DocumentLoader[str, PrerenderManifest] = DocumentLoader(
            clock,
            what="manifest",
            consequence="serving every page through the renderer",
            retry_interval=retry_interval,
        )

    @property
    def permanent_error(self) -> str | None:
        return self._loader.errors.get(MANIFEST_FILE)

    @property
    def fetches(self) -> int:
        return self._loader.fetches

    async def manifest(self, fetcher: AssetFetcher) -> PrerenderManifest | None:
        if self._manifest is None:
            manifest = await self._loader.load(
                fetcher, MANIFEST_FILE, MANIFEST_ASSET_PATH, self._parse
            )
            if manifest is not None and self._manifest is None:  # once, not per waiter
                self._manifest = manifest
                log.info(
                    "seeding: manifest of build %s loaded, %d routes",
                    self._manifest.build_id,
                    len(self._manifest.routes),
                )
        return self._manifest

    async def build(self, fetcher: AssetFetcher) -> BuildInfo | None:
        manifest = await self.manifest(fetcher)
        return manifest.build if manifest is not None else None

    async def route(self, fetcher: AssetFetcher, route: str) -> RouteRecord | None:
        manifest = await self.manifest(fetcher)
        return manifest.routes.get(route) if manifest is not None else None

    def _parse(self, body: bytes) -> PrerenderManifest:
        manifest = parse_manifest(body, MANIFEST_ASSET_PATH)
        actual = (manifest.base_path, manifest.trailing_slash)
        check_site_config(MANIFEST_ASSET_PATH, actual, self._expected)
        return manifest

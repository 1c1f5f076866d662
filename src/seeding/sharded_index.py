"""`ShardedIndex`: the `RouteIndex` over the sharded layout (`seeding.layout`), whose
cost per cold seed does not grow with the site.

What a cold seed reads:

- `meta/build.json`, once per isolate (< 1 KB whatever the site's size);
- the route's shard `index/<n>.json` (~128 routes' records), kept afterwards in a small
  LRU bounded by shard count and by bytes, so an isolate's index memory is bounded
  too. Looking the route up in its shard is the membership check: exact (the shard
  lists route keys, not hashes or a filter), and made before any pack is fetched.
  An unlisted path therefore costs at most its shard, and never a body file. (A scan
  of random paths can cost a shard fetch per request once it cycles through more
  shards than the LRU holds: ~16 KB from the asset layer, bounded by the shard count,
  and less than the render of the 404 page that answers it anyway);
- then the seeder fetches the one pack that holds the route's bodies.

Loading rules (`seeding.documents.DocumentLoader`, as for the manifest), applied to
build.json and to each shard separately:

- concurrent callers share one fetch (per file);
- a transient failure (exception, 5xx/429, body that fails to read) is retried by a
  later request, at most once per `retry_interval` seconds for that file;
- a permanent failure (404, invalid JSON, unknown schema version, a shard of another
  build, build facts that disagree with the site's config) is remembered for the
  isolate and logged once. A broken build.json makes every page render; a broken
  shard makes its ~128 routes render; neither raises into a request.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from seeding.assets import AssetFetcher
from seeding.documents import DocumentLoader, check_site_config
from seeding.layout import (
    BUILD_FILE,
    BuildLayout,
    Shard,
    parse_build_layout,
    parse_shard,
    route_shard,
    shard_file,
)
from seeding.manifest import BuildInfo, RouteRecord
from seeding.routes import asset_path

log = logging.getLogger("seeding")

BUILD_ASSET_PATH = asset_path(BUILD_FILE)
# A parsed shard of ~128 routes takes a few hundred KB at most; 16 of them, or 2 MiB
# of shard JSON, whichever comes first, bound the index's share of the isolate.
DEFAULT_MAX_SHARDS = 16
DEFAULT_MAX_SHARD_BYTES = 2 * 1024 * 1024


class ShardedIndex:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        base_path: str = "",
        trailing_slash: bool = False,
        retry_interval: float = 1.0,
        max_shards: int = DEFAULT_MAX_SHARDS,
        max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    ) -> None:
        if max_shards < 1:
            raise ValueError(f"max_shards must be at least 1, got {max_shards}")
        self._expected = (base_path, trailing_slash)
        self._max_shards = max_shards
        self._max_shard_bytes = max_shard_bytes
        self._layout: BuildLayout | None = None
        self._shards: OrderedDict[int, Shard] = OrderedDict()
        self._shard_bytes = 0
        self._build_loader: DocumentLoader[str, BuildLayout] = DocumentLoader(
            clock,
            what="build facts",
            consequence="serving every page through the renderer",
            unavailable_hint=" (copy the build with scripts/copy_prerender.py --layout sharded, "
            'or set SEED_INDEX = "manifest")',
            retry_interval=retry_interval,
        )
        self._shard_loader: DocumentLoader[int, Shard] = DocumentLoader(
            clock,
            what="shard",
            consequence="its routes render instead in this isolate",
            retry_interval=retry_interval,
        )

    @property
    def permanent_error(self) -> str | None:
        return self._build_loader.errors.get(BUILD_FILE)

    @property
    def fetches(self) -> int:
        """build.json fetches."""
        return self._build_loader.fetches

    @property
    def shard_fetches(self) -> int:
        return self._shard_loader.fetches

    @property
    def shard_errors(self) -> dict[int, str]:
        return dict(self._shard_loader.errors)

    @property
    def cached_shards(self) -> int:
        return len(self._shards)

    @property
    def cached_shard_bytes(self) -> int:
        """Bytes of shard JSON behind the shards held (a proxy for their memory)."""
        return self._shard_bytes

    async def layout(self, fetcher: AssetFetcher) -> BuildLayout | None:
        if self._layout is None:
            layout = await self._build_loader.load(
                fetcher, BUILD_FILE, BUILD_ASSET_PATH, self._parse_build
            )
            if layout is not None and self._layout is None:  # once, not per waiter
                self._layout = layout
                log.info(
                    "seeding: build %s loaded (sharded: %d routes, %d shards, %d packs)",
                    layout.build.build_id,
                    layout.routes,
                    layout.shards,
                    layout.packs,
                )
        return self._layout

    async def build(self, fetcher: AssetFetcher) -> BuildInfo | None:
        layout = await self.layout(fetcher)
        return layout.build if layout is not None else None

    async def route(self, fetcher: AssetFetcher, route: str) -> RouteRecord | None:
        layout = await self.layout(fetcher)
        if layout is None:
            return None
        shard = await self.shard(fetcher, layout, route_shard(route, layout.shards))
        return shard.routes.get(route) if shard is not None else None

    async def shard(self, fetcher: AssetFetcher, layout: BuildLayout, number: int) -> Shard | None:
        held = self._shards.get(number)
        if held is not None:
            self._shards.move_to_end(number)
            return held
        path = asset_path(shard_file(number))
        shard = await self._shard_loader.load(
            fetcher, number, path, lambda body: parse_shard(body, path, layout=layout, shard=number)
        )
        if shard is not None and number not in self._shards:  # once, not per waiter
            self._hold(shard)
        return shard

    def _parse_build(self, body: bytes) -> BuildLayout:
        layout = parse_build_layout(body, BUILD_ASSET_PATH)
        actual = (layout.build.base_path, layout.build.trailing_slash)
        check_site_config(BUILD_ASSET_PATH, actual, self._expected)
        return layout

    def _hold(self, shard: Shard) -> None:
        self._shards[shard.shard] = shard
        self._shard_bytes += shard.source_bytes
        # Keep the newest shard even if it alone is over the byte bound: it is in use.
        while len(self._shards) > 1 and (
            len(self._shards) > self._max_shards or self._shard_bytes > self._max_shard_bytes
        ):
            _, old = self._shards.popitem(last=False)
            self._shard_bytes -= old.source_bytes

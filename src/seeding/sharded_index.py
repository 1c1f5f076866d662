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

Loading rules, as `ManifestIndex` has them for the manifest, applied to build.json and
to each shard separately:

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

from seeding.assets import AssetFetcher, Failure, read_asset
from seeding.layout import (
    BUILD_FILE,
    BuildLayout,
    Shard,
    parse_build_layout,
    parse_shard,
    route_shard,
    shard_file,
)
from seeding.manifest import BuildInfo, ManifestError, RouteRecord
from seeding.routes import asset_path
from seeding.singleflight import SingleFlight

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
        self._clock = clock
        self._expected = (base_path, trailing_slash)
        self._retry_interval = retry_interval
        self._max_shards = max_shards
        self._max_shard_bytes = max_shard_bytes
        self._layout: BuildLayout | None = None
        self._permanent_error: str | None = None
        self._next_attempt_at = float("-inf")
        self._build_flight: SingleFlight[str, BuildLayout | None] = SingleFlight()
        self._shards: OrderedDict[int, Shard] = OrderedDict()
        self._shard_bytes = 0
        self._shard_errors: dict[int, str] = {}
        self._shard_retry_at: dict[int, float] = {}
        self._shard_flight: SingleFlight[int, Shard | None] = SingleFlight()
        self.fetches = 0  # build.json fetches
        self.shard_fetches = 0

    @property
    def permanent_error(self) -> str | None:
        return self._permanent_error

    @property
    def shard_errors(self) -> dict[int, str]:
        return dict(self._shard_errors)

    @property
    def cached_shards(self) -> int:
        return len(self._shards)

    @property
    def cached_shard_bytes(self) -> int:
        """Bytes of shard JSON behind the shards held (a proxy for their memory)."""
        return self._shard_bytes

    async def layout(self, fetcher: AssetFetcher) -> BuildLayout | None:
        if self._layout is not None or self._permanent_error is not None:
            return self._layout
        if self._clock() < self._next_attempt_at and not self._build_flight.in_flight("build"):
            return None
        return await self._build_flight.run("build", lambda: self._load_build(fetcher), None)

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
        if number in self._shard_errors:
            return None
        in_flight = self._shard_flight.in_flight(number)
        if self._clock() < self._shard_retry_at.get(number, float("-inf")) and not in_flight:
            return None
        return await self._shard_flight.run(
            number, lambda: self._load_shard(fetcher, layout, number), None
        )

    async def _load_build(self, fetcher: AssetFetcher) -> BuildLayout | None:
        self.fetches += 1
        result = await read_asset(fetcher, BUILD_ASSET_PATH)
        if result.body is None:
            if result.failure is Failure.PERMANENT:
                self._fail_permanently(
                    f"build facts unavailable: {result.reason} (copy the build with "
                    'scripts/copy_prerender.py --layout sharded, or set SEED_INDEX = "manifest")'
                )
                return None
            self._next_attempt_at = self._clock() + self._retry_interval
            log.warning("seeding: %s fetch failed, will retry: %s", BUILD_FILE, result.reason)
            return None
        try:
            layout = parse_build_layout(result.body, BUILD_ASSET_PATH)
        except ManifestError as exc:
            self._fail_permanently(f"build facts rejected: {exc}")
            return None
        actual = (layout.build.base_path, layout.build.trailing_slash)
        if actual != self._expected:
            self._fail_permanently(
                f"build facts rejected: {BUILD_ASSET_PATH}: basePath/trailingSlash are {actual}, "
                f"the site is configured with {self._expected} (rebuild and redeploy)"
            )
            return None
        self._layout = layout
        log.info(
            "seeding: build %s loaded (sharded: %d routes, %d shards, %d packs)",
            layout.build.build_id,
            layout.routes,
            layout.shards,
            layout.packs,
        )
        return layout

    async def _load_shard(
        self, fetcher: AssetFetcher, layout: BuildLayout, number: int
    ) -> Shard | None:
        self.shard_fetches += 1
        path = asset_path(shard_file(number))
        result = await read_asset(fetcher, path)
        if result.body is None:
            if result.failure is Failure.PERMANENT:
                self._shard_failed(number, f"shard unavailable: {result.reason}")
            else:
                self._shard_retry_at[number] = self._clock() + self._retry_interval
                log.warning("seeding: shard fetch failed, will retry: %s", result.reason)
            return None
        try:
            shard = parse_shard(result.body, path, layout=layout, shard=number)
        except ManifestError as exc:
            self._shard_failed(number, f"shard rejected: {exc}")
            return None
        self._shard_retry_at.pop(number, None)
        self._hold(shard)
        return shard

    def _hold(self, shard: Shard) -> None:
        self._shards[shard.shard] = shard
        self._shard_bytes += shard.source_bytes
        # Keep the newest shard even if it alone is over the byte bound: it is in use.
        while len(self._shards) > 1 and (
            len(self._shards) > self._max_shards or self._shard_bytes > self._max_shard_bytes
        ):
            _, old = self._shards.popitem(last=False)
            self._shard_bytes -= old.source_bytes

    def _shard_failed(self, number: int, reason: str) -> None:
        self._shard_errors[number] = reason
        log.error("seeding: %s; its routes render instead in this isolate", reason)

    def _fail_permanently(self, reason: str) -> None:
        self._permanent_error = reason
        log.error("seeding: %s; serving every page through the renderer", reason)

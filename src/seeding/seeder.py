"""Seeding: the first request for a prerendered route in an isolate copies that
route's file from the static assets into the memory cache.

Rules:
- only routes the build listed as rendered cause an asset fetch;
- one fetch per (build, variant, route) however many requests arrive together;
- HTML and data variants are seeded, and fail, independently;
- a transient failure is retried by a later request; a permanent one (404, a file
  whose size disagrees with the manifest) is remembered for the isolate;
- `seed` never raises into the request: on any failure it returns None and the
  caller renders instead.
"""

from __future__ import annotations

import logging

from seeding.assets import AssetFetcher, Failure, read_asset
from seeding.cache import CacheEntry, MemoryCache, cache_key
from seeding.manifest import BuildInfo, RouteRecord
from seeding.route_index import RouteIndex
from seeding.routes import Variant, asset_path
from seeding.singleflight import SingleFlight

log = logging.getLogger("seeding")


class Seeder:
    def __init__(
        self, cache: MemoryCache, index: RouteIndex, *, default_expire: int | None = None
    ) -> None:
        self._cache = cache
        self._index = index
        self._default_expire = default_expire
        self._flight: SingleFlight[str, CacheEntry | None] = SingleFlight()
        self._permanent_failures: dict[str, str] = {}
        self.asset_fetches = 0

    async def seed(
        self, fetcher: AssetFetcher, build: BuildInfo, route: str, variant: Variant
    ) -> CacheEntry | None:
        """Bring one variant of `route` into the cache; the entry, or None when the
        route is not prerendered or its file cannot be read now."""
        key = cache_key(build.build_id, variant, route)
        if key in self._permanent_failures:
            return None
        try:
            return await self._flight.run(
                key, lambda: self._seed(fetcher, build, route, variant, key), None
            )
        except Exception:
            log.exception("seeding: unexpected error seeding %s (%s)", route, variant.value)
            return None

    async def _seed(
        self, fetcher: AssetFetcher, build: BuildInfo, route: str, variant: Variant, key: str
    ) -> CacheEntry | None:
        already = self._cache.peek(key)
        if already is not None:
            return already
        record = await self._index.route(fetcher, route)
        if record is None or not record.seedable:
            return None
        file = record.variants.get(variant)
        if file is None:
            return None
        self.asset_fetches += 1
        result = await read_asset(fetcher, asset_path(file.file))
        if result.body is None:
            self._failed(key, result.failure, result.reason)
            return None
        if len(result.body) != file.bytes:
            self._failed(
                key,
                Failure.PERMANENT,
                f"{file.file}: {len(result.body)} bytes, "
                f"the manifest says {file.bytes} (rebuild and redeploy)",
            )
            return None
        entry = self._entry(build, record, variant, result.body)
        try:
            self._cache.set(key, entry)
        except Exception:
            # Still serve what was fetched; a later request seeds again.
            log.exception("seeding: cache write failed for %s (%s)", route, variant.value)
        return entry

    def _entry(
        self, build: BuildInfo, record: RouteRecord, variant: Variant, body: bytes
    ) -> CacheEntry:
        return CacheEntry(
            body=body,
            status=record.http_status,
            headers=dict(record.variants[variant].headers),
            generated_at=build.built_at,
            revalidate=record.revalidate,
            expire=record.expire if record.expire is not None else self._default_expire,
        )

    def _failed(self, key: str, failure: Failure | None, reason: str) -> None:
        if failure is Failure.PERMANENT:
            self._permanent_failures[key] = reason
            log.error("seeding: %s; not retried in this isolate, rendering instead", reason)
        else:
            log.warning("seeding: %s; rendering instead, a later request retries", reason)

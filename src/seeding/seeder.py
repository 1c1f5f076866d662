"""Seeding: the first request for a prerendered route in an isolate copies that
route's body from the static assets into the memory cache.

Where the bytes are is data, not code: the index's record of each variant names a
file, the body's offset and length in it, and the file's size (`VariantRecord`). In
the manifest layout the file is the body; in the sharded layout it is a pack that
also holds the route's other variant and a neighbour's. The seeder fetches the file,
checks its size, slices the body out, and caches every variant of the route found in
that file (never a neighbour's), so one pack fetch seeds both HTML and data.

Rules:
- only routes the build listed as rendered cause an asset fetch (the index answers
  membership exactly, before any body file is fetched);
- one fetch per file however many requests arrive together, for whichever variants
  and routes they want from it;
- variants in different files are seeded, and fail, independently;
- a transient failure is retried by a later request; a permanent one (404, a file
  whose size disagrees with the index) is remembered for the isolate, per file;
- `seed` never raises into the request: on any failure it returns None and the
  caller renders instead.
"""

from __future__ import annotations

import logging

from seeding.assets import AssetFetcher, AssetResult, Failure, read_asset
from seeding.cache import CacheEntry, MemoryCache, cache_key
from seeding.manifest import BuildInfo, RouteRecord, VariantRecord
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
        self._files: SingleFlight[str, AssetResult] = SingleFlight()
        self._permanent_failures: dict[str, str] = {}
        self.asset_fetches = 0
        self.bytes_fetched = 0

    async def seed(
        self, fetcher: AssetFetcher, build: BuildInfo, route: str, variant: Variant
    ) -> CacheEntry | None:
        """Bring one variant of `route` into the cache; the entry, or None when the
        route is not prerendered or its file cannot be read now."""
        key = cache_key(build.build_id, variant, route)
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
        located = record.variants.get(variant)
        if located is None:
            return None
        file_key = f"{build.build_id}\x00{located.file}"
        if file_key in self._permanent_failures:
            return None
        result = await self._files.run(
            file_key,
            lambda: self._fetch(fetcher, file_key, located),
            AssetResult(failure=Failure.TRANSIENT, reason=f"{located.file}: fetch cancelled"),
        )
        data = result.body
        if data is None:
            return None
        # Every variant of this route that lives in the file just read (both, in a
        # pack); the requested one last, so it is the most recently used.
        siblings = [
            (other, info)
            for other, info in record.variants.items()
            if other is not variant and info.file == located.file
        ]
        for other, info in siblings:
            other_key = cache_key(build.build_id, other, route)
            if self._cache.peek(other_key) is None:
                self._store(other_key, self._entry(build, record, other, _slice(data, info)))
        entry = self._entry(build, record, variant, _slice(data, located))
        self._store(key, entry)
        return entry

    async def _fetch(
        self, fetcher: AssetFetcher, file_key: str, located: VariantRecord
    ) -> AssetResult:
        """Fetch one file and check its size; failures are classified and recorded
        here, once per fetch, not once per waiting request."""
        self.asset_fetches += 1
        result = await read_asset(fetcher, asset_path(located.file))
        if result.body is None:
            self._failed(file_key, result.failure, result.reason)
            return result
        self.bytes_fetched += len(result.body)
        expected = located.expected_file_bytes
        if len(result.body) != expected:
            reason = (
                f"{located.file}: {len(result.body)} bytes, "
                f"the index says {expected} (rebuild and redeploy)"
            )
            self._failed(file_key, Failure.PERMANENT, reason)
            return AssetResult(failure=Failure.PERMANENT, reason=reason)
        return result

    def _store(self, key: str, entry: CacheEntry) -> None:
        try:
            self._cache.set(key, entry)
        except Exception:
            # Still serve what was fetched; a later request seeds again.
            log.exception("seeding: cache write failed for %s", key.replace("\x00", " "))

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

    def _failed(self, file_key: str, failure: Failure | None, reason: str) -> None:
        if failure is Failure.PERMANENT:
            self._permanent_failures[file_key] = reason
            log.error("seeding: %s; not retried in this isolate, rendering instead", reason)
        else:
            log.warning("seeding: %s; rendering instead, a later request retries", reason)


def _slice(data: bytes, located: VariantRecord) -> bytes:
    if located.offset == 0 and located.bytes == len(data):
        return data
    return data[located.offset : located.offset + located.bytes]

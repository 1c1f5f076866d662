"""Seeding: the first request for a prerendered route in an isolate copies that route's
bodies from the static assets into the memory cache, with one asset fetch.

The build identity (`seeding.seed.build_identity`) is known at import, so a cold seed is:
the route filter and the bucket map (no fetch for a path the build did not prerender,
but for a small share of false positives), then the route's pack (`seeding.seed.packs`),
whose header is the exact membership check and says where each variant's body lies.
Every variant of the route found in that file is cached (the HTML and the data form
come together); a neighbour's bodies in the same pack are not.

Rules:
- one fetch per pack however many requests arrive together, for whichever variants
  and routes they want from it (`seeding.seed.documents.DocumentLoader`, which also retries
  transient failures at most once a second and remembers permanent ones: a 404, a
  pack of another build, a header that does not validate, whatever the bytes hold);
- a path the filter let through but the pack does not list, or lists with a record that
  does not validate (logged), is remembered (a bounded set), so it costs at most one
  fetch per isolate;
- `seed` never raises into the request: on any failure it returns None and the
  caller renders instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from seeding.primitives.cache import CacheEntry, MemoryCache, cache_key, shown_key
from seeding.primitives.expiring import ExpiringMap
from seeding.primitives.singleflight import SingleFlight
from seeding.routes import Variant, asset_path
from seeding.schema import RouteRecord, SchemaError
from seeding.seed.assets import AssetFetcher
from seeding.seed.build_identity import BuildIdentity
from seeding.seed.documents import DocumentLoader
from seeding.seed.packs import Pack, PackedVariant, RouteDigest, pack_file, parse_pack

log = logging.getLogger("seeding")

# Stores one seeded entry; answers the entry the cache now holds for the key (the one
# given, or a fresher one already there), None when the entry may not be stored.
StoreSeed = Callable[[str, CacheEntry], CacheEntry | None]

# Paths the filter let through that their pack does not list, remembered per isolate.
MAX_REMEMBERED_ABSENT = 4096


class Seeder:
    def __init__(
        self,
        cache: MemoryCache,
        build: BuildIdentity,
        clock: Callable[[], float],
        *,
        default_expire: int | None = None,
        retry_interval: float = 1.0,
        store: StoreSeed | None = None,
    ) -> None:
        self._cache = cache
        self._store_entry = store or self._cache_set
        self._build = build
        self._default_expire = default_expire
        self._flight: SingleFlight[str, CacheEntry | None] = SingleFlight()
        self._packs: DocumentLoader[tuple[int, int], Pack] = DocumentLoader(
            clock,
            what="pack",
            consequence="its routes render instead in this isolate",
            retry_interval=retry_interval,
        )
        self._clock = clock
        # The build's packs never change, so an unlisted route stays unlisted: no expiry.
        self._absent: ExpiringMap[str, None] = ExpiringMap(MAX_REMEMBERED_ABSENT)
        self.filtered = 0  # lookups the filter answered with no fetch

    @property
    def build(self) -> BuildIdentity:
        return self._build

    @property
    def asset_fetches(self) -> int:
        return self._packs.fetches

    @property
    def bytes_fetched(self) -> int:
        return self._packs.bytes_fetched

    @property
    def pack_errors(self) -> dict[tuple[int, int], str]:
        return dict(self._packs.errors)

    async def seed(
        self,
        fetcher: AssetFetcher,
        route: str,
        variant: Variant,
        digest: RouteDigest | None = None,
    ) -> CacheEntry | None:
        """Bring one variant of `route` into the cache; the entry, or None when the
        route is not prerendered or its pack cannot be read now. `digest` is the route's
        (`RouteDigest.of(route)`), when the caller has it already."""
        key = cache_key(self._build.build_id, variant, route)
        digest = digest or RouteDigest.of(route)
        try:
            return await self._flight.run(
                key, lambda: self._seed(fetcher, route, variant, key, digest), None
            )
        except Exception:
            log.exception("seeding: unexpected error seeding %s (%s)", route, variant.value)
            return None

    async def _seed(
        self, fetcher: AssetFetcher, route: str, variant: Variant, key: str, digest: RouteDigest
    ) -> CacheEntry | None:
        already = self._cache.peek(key)
        if already is not None:
            return already
        build = self._build
        bucket = digest.bucket(build.buckets)
        if not (build.filter.might_contain(digest) and build.holds_bucket(bucket)):
            self.filtered += 1
            return None
        if self._absent.contains(route, self._clock()):
            return None
        pack = await self._pack(fetcher, bucket, 0)
        if pack is None:
            return None
        try:
            record = pack.route(route)
        except SchemaError as exc:
            log.error("seeding: pack record rejected: %s; the route renders instead", exc)
            record = None
        if record is None:
            self._remember_absent(route)
            return None
        located = record.variants.get(variant)
        if located is None:
            return None
        if located.part != 0:
            pack = await self._pack(fetcher, bucket, located.part)
            if pack is None:
                return None
        # Every variant of the route in the file just read; the one asked for last, so
        # it is the most recently used.
        for other, info in record.variants.items():
            other_key = cache_key(self._build.build_id, other, route)
            if other is not variant and info.part == located.part and other_key not in self._cache:
                self._store(other_key, self._entry(record, info, pack))
        return self._store(key, self._entry(record, located, pack))

    def unreachable(self, digest: RouteDigest) -> bool:
        """Whether the route's pack failed transiently and is not had yet (a render
        in its place is a stopgap: the seed is retried by a later request)."""
        bucket = digest.bucket(self._build.buckets)
        return any(key[0] == bucket for key in self._packs.retrying())

    async def _pack(self, fetcher: AssetFetcher, bucket: int, part: int) -> Pack | None:
        path = asset_path(pack_file(bucket, part))
        build = self._build

        def parse(raw: bytes) -> Pack:
            return parse_pack(
                raw,
                path,
                build_id=build.build_id,
                bucket=bucket,
                part=part,
                data_variant=build.data_variant,
            )

        return await self._packs.load(fetcher, (bucket, part), path, parse)

    def _remember_absent(self, route: str) -> None:
        self._absent.set(route, None, expires_at=math.inf, now=self._clock())

    def _entry(
        self, record: RouteRecord[PackedVariant], located: PackedVariant, pack: Pack
    ) -> CacheEntry:
        return CacheEntry(
            body=pack.body(located),
            status=record.http_status,
            headers=dict(located.headers),
            generated_at=self._build.built_at,
            revalidate=record.revalidate,
            expire=record.expire if record.expire is not None else self._default_expire,
            tags=record.tags,
        )

    def _cache_set(self, key: str, entry: CacheEntry) -> CacheEntry | None:
        # Without the flow's store: what fits is kept, and the entry is served either way.
        self._cache.set(key, entry)
        return entry

    def _store(self, key: str, entry: CacheEntry) -> CacheEntry | None:
        try:
            return self._store_entry(key, entry)
        except Exception:
            # Still serve what was fetched; a later request seeds again.
            log.exception("seeding: cache write failed for %s", shown_key(key))
            return entry

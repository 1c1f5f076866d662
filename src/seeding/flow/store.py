"""The flow's one way into the memory cache: `PageStore.admit` asks the storage
decision (`seeding.flow.storable.refusal`) and stores only what it allows, for every
path that stores a page: a render on request, a regeneration, a KV value, a seeded
record (the Seeder is given `admit_seed`).

It never replaces a fresher page: when the cache already holds an entry for the key
generated later than the one offered (a regeneration that stored while a lookup
awaited), that entry stays and is the answer. A page refused for its size is
remembered for its window (`too_large`), so the flow neither seeds nor regenerates
it meanwhile: it answers the page's KV copy, or renders it (`seeding.flow.handler`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from seeding.flow.storable import Refusal, Rule, Source, refusal
from seeding.primitives.cache import CacheEntry, MemoryCache, shown_key
from seeding.primitives.expiring import ExpiringMap
from seeding.rendering import RenderResult

log = logging.getLogger("seeding")

# How long a page too large to store is remembered when it never revalidates.
TOO_LARGE_SECONDS = 60.0
# Routes remembered at once per isolate, so a scan of unique paths cannot grow it.
MAX_REMEMBERED_KEYS = 4096


class PageStore:
    def __init__(self, cache: MemoryCache, clock: Callable[[], float]) -> None:
        self.cache = cache
        self.clock = clock
        # Keys of pages too large to store, each until its window ends (bounded).
        self.too_large: ExpiringMap[str, bool] = ExpiringMap(MAX_REMEMBERED_KEYS)

    def refusal(
        self,
        key: str,
        entry: CacheEntry,
        source: Source,
        *,
        dynamic: bool = False,
        credentials: bool = False,
        query: bool = False,
    ) -> Refusal | None:
        """The storage decision for `entry` under `key` (nothing stored)."""
        return refusal(
            source=source,
            status=entry.status,
            headers=entry.headers,
            size=entry.size + len(key),
            budget=self.cache.max_bytes,
            dynamic=dynamic,
            credentials=credentials,
            query=query,
        )

    def admit(
        self,
        key: str,
        entry: CacheEntry,
        source: Source,
        *,
        dynamic: bool = False,
        credentials: bool = False,
        query: bool = False,
    ) -> CacheEntry | Refusal:
        """Store `entry` if the decision allows it; the entry the cache now holds for
        `key` (`entry`, or a fresher one already there), or the refusal."""
        refused = self.refusal(
            key, entry, source, dynamic=dynamic, credentials=credentials, query=query
        )
        if refused is not None:
            if refused.rule is Rule.SIZE:
                window = entry.revalidate if entry.revalidate is not None else TOO_LARGE_SECONDS
                now = self.clock()
                self.too_large.set(key, True, expires_at=now + max(1.0, float(window)), now=now)
            log.info("seeding: %s not stored (%s): %s", shown_key(key), source.value, refused)
            return refused
        held = self.cache.peek(key)
        if held is not None and held.generated_at > entry.generated_at:
            return held
        if held is entry:
            return entry
        try:
            self.cache.set(key, entry)
        except Exception:
            log.exception("cache write failed for %s; serving uncached", shown_key(key))
        return entry

    def admit_seed(self, key: str, entry: CacheEntry) -> CacheEntry | None:
        """`admit` for the Seeder (`seeding.seed.seeder.StoreSeed`): None when refused."""
        held = self.admit(key, entry, Source.SEED)
        return held if isinstance(held, CacheEntry) else None

    def drop(self, key: str, entry: CacheEntry) -> None:
        """Delete `entry` from the cache if it is still the one held for `key` (a
        lookup that judged it expired never deletes a fresher one stored meanwhile)."""
        if self.cache.peek(key) is entry:
            self.cache.delete(key)


def as_result(entry: CacheEntry) -> RenderResult:
    """A page as a render's answer, for a page answered without being stored."""
    return RenderResult(
        entry.status,
        entry.headers,
        entry.body,
        revalidate=entry.revalidate,
        expire=entry.expire,
        tags=entry.tags,
    )


def page_entry(
    result: RenderResult,
    generated_at: float,
    *,
    revalidate: int | None,
    default_expire: int | None,
) -> CacheEntry:
    """The entry of a render that started at `generated_at` (a revalidation that lands
    during the render is newer than the page)."""
    return CacheEntry(
        body=result.body,
        status=result.status,
        headers=dict(result.headers),
        generated_at=generated_at,
        revalidate=revalidate,
        expire=result.expire if result.expire is not None else default_expire,
        tags=result.tags,
    )

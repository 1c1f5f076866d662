"""The lookup of a page to serve, and its verdict: memory first, then the shared tier
(KV) and the assets seed, in the order that costs least for the route.

- The shared tier's snapshot of revalidation times is brought within its bound
  (`SharedTier.ensure_loaded`, free while the snapshot is recent) before any entry is
  judged, a memory hit included, so no page is served past a revalidation older than
  the bound, whatever the isolate's idle time.
- A route the build says never revalidates is seeded before KV is read; any other
  route reads KV first (a regenerated copy is newer than the build's).
- Every entry found goes into the memory cache through the flow's one store
  (`PageStore.admit`): a KV value or a seeded record the storage decision refuses is
  not served; a fresher entry already there (a regeneration that stored while the
  lookup awaited) is kept and served instead; an expired one is dropped only if it is
  still the one held.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from seeding.flow.storable import Source
from seeding.flow.store import PageStore
from seeding.primitives.cache import CacheEntry
from seeding.routes import RouteTarget
from seeding.seed.assets import AssetFetcher
from seeding.seed.build_identity import BuildIdentity
from seeding.seed.packs import RouteDigest
from seeding.seed.seeder import Seeder
from seeding.shared.tag_clock import Verdict
from seeding.shared.tier import SharedTier


@dataclass(frozen=True)
class Found:
    """The page to serve and its verdict (FRESH or STALE); entry None (EXPIRED) when
    there is none. `seed_unreachable`: the route's pack failed transiently, so a
    render in its place is a stopgap, not the page."""

    entry: CacheEntry | None
    verdict: Verdict
    seed_unreachable: bool = False


NOTHING = Found(None, Verdict.EXPIRED)


class Lookup:
    def __init__(
        self,
        store: PageStore,
        shared: SharedTier,
        build_id: str,
        build: BuildIdentity | None,
        seeder: Seeder | None,
    ) -> None:
        self.store = store
        self.shared = shared
        self.build_id = build_id
        self.build = build
        self.seeder = seeder

    async def find(self, key: str, target: RouteTarget, assets: AssetFetcher, now: float) -> Found:
        shared, store = self.shared, self.store
        route, variant = target.route, target.variant
        await shared.ensure_loaded(now)
        entry = store.cache.get(key)
        if entry is not None:
            verdict = shared.verdict(entry, route, now)
            if verdict is not Verdict.EXPIRED:
                return Found(entry, verdict)
            store.drop(key, entry)
        # Without a build nothing is seeded: no digest needed.
        digest = RouteDigest.of(route) if self.build is not None else None
        static = (
            digest is not None and self.build is not None and self.build.never_revalidates(digest)
        )
        unreachable = False

        async def seeded() -> CacheEntry | None:
            nonlocal unreachable
            if self.seeder is None or digest is None:
                return None
            # The Seeder stores what it seeds through `store.admit_seed`.
            found = await self.seeder.seed(assets, route, variant, digest)
            if found is None:
                unreachable = self.seeder.unreachable(digest)
            return found

        async def shared_copy() -> CacheEntry | None:
            copy = await shared.read(self.build_id, variant, route, now)
            if copy is None:
                return None
            held = store.admit(key, copy, Source.SHARED)
            return held if isinstance(held, CacheEntry) else None

        sources: tuple[Callable[[], Awaitable[CacheEntry | None]], ...] = (
            (seeded, shared_copy) if static else (shared_copy, seeded)
        )
        best: CacheEntry | None = None
        best_verdict = Verdict.EXPIRED
        for source in sources:
            found = await source()
            if found is None:
                continue
            verdict = shared.verdict(found, route, now)
            if verdict is Verdict.EXPIRED:
                store.drop(key, found)
                continue
            if best is None or found.generated_at > best.generated_at:
                best, best_verdict = found, verdict
            if verdict is Verdict.FRESH:
                break
        if best is None:
            return Found(None, Verdict.EXPIRED, unreachable)
        return Found(best, best_verdict)

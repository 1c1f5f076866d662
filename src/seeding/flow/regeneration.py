"""The background regeneration of a stale page (ISR), one `Regeneration` per
isolate; `start` hands the work to `ctx.waitUntil` through the `Regenerator` (one at a
time per key, with back-off after failures).

One regeneration of a page:

1. another isolate may have regenerated it already: a FRESH copy in KV newer than the
   stale page is taken (through the store, as any KV value);
2. else the shared lease decides which isolate renders (none: another one has it);
3. the page is rendered from the canonical request (`seeding.flow.canonical`), stamped
   with the time its render started, so a revalidation that lands during the render
   makes it stale again; a 404 replaces the page (it is gone) and keeps the stale
   page's revalidate time, so it is regenerated like the page was;
4. it is stored through the storage decision (`PageStore.admit`): a render it refuses
   is a failure (the stale page is kept and served, and the Regenerator backs off);
5. the stored page is written to KV.

Whatever ends the render early (an exception, a refusal, a cancellation) releases the
lease, so another isolate or a later request may try at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from seeding.flow.storable import Refusal, Source
from seeding.flow.store import PageStore, page_entry
from seeding.primitives.cache import CacheEntry, shown_key
from seeding.primitives.regenerator import Regenerator
from seeding.rendering import RenderResult
from seeding.routes import RouteTarget, Variant
from seeding.shared.tag_clock import Verdict
from seeding.shared.tier import SharedTier

log = logging.getLogger("seeding")

WaitUntil = Callable[[Awaitable[Any]], None]
# Renders one variant of a route from the canonical request, with the Worker's env.
CanonicalRender = Callable[[str, Variant, Any], Awaitable[RenderResult]]


class RegenerationRefused(RuntimeError):
    """The render may not be stored: the stale page stays."""


class Regeneration:
    def __init__(
        self,
        store: PageStore,
        shared: SharedTier,
        render: CanonicalRender,
        *,
        build_id: str,
        clock: Callable[[], float],
        default_expire: int | None,
    ) -> None:
        self.store = store
        self.shared = shared
        self.render = render
        self.build_id = build_id
        self.clock = clock
        self.default_expire = default_expire
        self.regenerator = Regenerator(clock)

    def start(
        self, key: str, target: RouteTarget, stale: CacheEntry, env: Any, wait_until: WaitUntil
    ) -> None:
        """Regenerate `stale` in the background, unless one is running or backing off."""
        job = self.regenerator.claim(key, lambda: self.run(key, target, stale, env))
        if job is not None:
            wait_until(job)

    async def run(self, key: str, target: RouteTarget, stale: CacheEntry, env: Any) -> bool:
        """True when a newer page is stored (made here or taken from KV), False when
        another isolate holds the lease; raises when the render fails or is refused."""
        shared, route, variant = self.shared, target.route, target.variant
        now = self.clock()
        newer = await shared.read(self.build_id, variant, route, now, recheck=True)
        if (
            newer is not None
            and newer.generated_at > stale.generated_at
            and shared.verdict(newer, route, now) is Verdict.FRESH
            and isinstance(self.store.admit(key, newer, Source.SHARED), CacheEntry)
        ):
            log.info("seeding: took %s from KV (made by another isolate)", shown_key(key))
            return True
        if not await shared.may_regenerate(self.build_id, variant, route, stale, now):
            return False  # another isolate holds the lease for this window
        try:
            fresh = await self._render(key, route, variant, stale, env)
        except BaseException:
            # A cancelled render releases its lease too.
            await shared.regeneration_failed(self.build_id, variant, route, stale, now)
            raise
        log.info("seeding: regenerated %s", shown_key(key))
        await shared.write(self.build_id, variant, route, fresh, self.clock())
        return True

    async def _render(
        self, key: str, route: str, variant: Variant, stale: CacheEntry, env: Any
    ) -> CacheEntry:
        started = self.clock()
        result = await self.render(route, variant, env)
        # A page that is gone keeps the window it was regenerated in.
        revalidate = stale.revalidate if result.status == 404 else result.revalidate
        entry = page_entry(
            result, started, revalidate=revalidate, default_expire=self.default_expire
        )
        held = self.store.admit(key, entry, Source.REGENERATION, dynamic=result.dynamic)
        if isinstance(held, Refusal):
            raise RegenerationRefused(f"{shown_key(key)}: the render is not stored: {held}")
        return held

"""The page flow, in plain Python: private paths, URL normalization, then the lookup
(memory, KV, assets seed), the regeneration of stale pages and the render as the
fallback. The revalidation endpoint is not part of it: the Worker's front door
(`seeding.front`) routes to one or the other.

    request -> private? 404 -> normalize (308 to the canonical URL)
      -> not GET/HEAD, or credentials: the client's own render, never stored
      -> lookup (`seeding.flow.lookup`): memory, then KV and the seed
         -> HIT / STALE (served at once; STALE regenerated in the background,
            `seeding.flow.regeneration`)
      -> (nothing usable) the canonical render (`seeding.flow.canonical`)
         -> stored if the storage decision allows (`seeding.flow.storable`): MISS,
            written to KV later
         -> the page depends on the request: rendered again from the client's own
            request and answered to it alone; the route is then rendered per request
            for a while (`DYNAMIC_SECONDS`)
         -> too large for the memory cache: answered with `no-store`, never seeded
            or held in memory; kept in KV (when bound) and answered from that copy
            while it is fresh, so it renders about once per window
         -> after a transient seed failure: answered with `no-store`, not stored, so
            a later request seeds it

Each answer is made in `seeding.flow.answers`. A request with a query string is
served from the cache when the route is there; otherwise its render is answered but
not stored. Seeding and shared-tier failures never surface: the renderer answers
instead. Only a renderer that raises on the request path gives a 500 (logged).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from seeding.config import SiteConfig
from seeding.edge.headers import EdgeView
from seeding.edge.purge import EdgeCache
from seeding.flow import answers
from seeding.flow.canonical import (
    CACHED_METHODS,
    HeaderReads,
    canonical_request,
    client_render_request,
)
from seeding.flow.lookup import Lookup
from seeding.flow.policy import is_private_request
from seeding.flow.regeneration import Regeneration
from seeding.flow.storable import Refusal, Source
from seeding.flow.store import MAX_REMEMBERED_KEYS, PageStore, as_result, page_entry
from seeding.http import Request, Response
from seeding.primitives.cache import CacheEntry, MemoryCache, cache_key, shown_key
from seeding.primitives.expiring import ExpiringMap
from seeding.rendering import Renderer, RenderResult
from seeding.routes import NOT_FOUND_ROUTE, RouteTarget, Variant, is_private_path
from seeding.routes import resolve_request_path as resolve
from seeding.seed.assets import AssetFetcher
from seeding.seed.build_identity import BuildIdentity
from seeding.seed.seeder import Seeder
from seeding.shared.tag_clock import Verdict
from seeding.shared.tier import DYNAMIC_SECONDS, SharedTier

log = logging.getLogger("seeding")

__all__ = ["CACHED_METHODS", "Bindings", "SiteHandler", "create_handler"]

# Key prefix for pages rendered when the Worker has no prerendered build and was given
# no deploy identity (unit tests); the Worker always gives one (`deploy_id`).
NO_BUILD = "-"
MAX_RESOLVED_PATHS = 1024

WaitUntil = Callable[[Awaitable[Any]], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Bindings:
    """What the Worker gives one request: the `ASSETS` binding, `ctx.waitUntil`, the
    env itself (handed to the renderer as it is), and `ctx.cache` when the edge tier
    is in front (None: no edge; stored pages are sent without edge headers)."""

    assets: AssetFetcher
    wait_until: WaitUntil
    env: Any = None
    edge: EdgeCache | None = None


class SiteHandler:
    def __init__(
        self,
        renderer: Renderer,
        cache: MemoryCache,
        clock: Clock,
        build: BuildIdentity | None = None,
        shared: SharedTier | None = None,
        *,
        origin: str | None = None,
        deploy_id: str | None = None,
    ) -> None:
        self.renderer = renderer
        self.config: SiteConfig = renderer.config
        self.cache = cache
        self.clock = clock
        self.build = build
        # What every key carries: the deploy's identity (`seeding.shared.kv_pages.
        # deploy_identity`, given by the Worker), else the build's.
        self.build_id = deploy_id or (build.build_id if build is not None else NO_BUILD)
        self.origin = origin
        self.shared = shared or SharedTier()
        self.store = PageStore(cache, clock)
        self.seeder = (
            Seeder(
                cache,
                build,
                clock,
                default_expire=self.config.expire,
                store=self.store.admit_seed,
            )
            if build is not None
            else None
        )
        self.lookup = Lookup(self.store, self.shared, self.build_id, build, self.seeder)
        self.regeneration = Regeneration(
            self.store,
            self.shared,
            self._render_canonical,
            build_id=self.build_id,
            clock=clock,
            default_expire=self.config.expire,
        )
        # Routes whose canonical render said they depend on the request.
        self.per_request: ExpiringMap[str, bool] = ExpiringMap(MAX_REMEMBERED_KEYS)
        # Paths resolved lately (never stale: a pure function, so no clock; bounded,
        # the oldest forgotten first, so a scan of unique paths cannot grow it).
        self._resolved: ExpiringMap[str, tuple[bool, RouteTarget | None]] = ExpiringMap(
            MAX_RESOLVED_PATHS
        )

    async def handle(self, request: Request, bindings: Bindings) -> Response:
        return await answers.guarded(request, lambda: self._handle(request, bindings))

    async def _handle(self, request: Request, bindings: Bindings) -> Response:
        private, target = self._resolve(request.path)
        if private:
            return answers.private_path()
        if target is None:
            # Not a possible route (outside basePath, malformed): the site's 404 page.
            result = await self._render_client(request, NOT_FOUND_ROUTE, Variant.HTML, bindings)
            return answers.uncached(request, result)
        if not target.canonical:
            return answers.redirect_to_canonical(request, target, self.config)
        if request.method.upper() not in CACHED_METHODS or is_private_request(
            request.headers, self.config.session_cookies
        ):
            result = await self._render_client(request, target.route, target.variant, bindings)
            return answers.uncached(request, result, private=True)

        key = cache_key(self.build_id, target.variant, target.route)
        now = self.clock()
        if self.per_request.contains(key, now):
            result = await self._render_client(request, target.route, target.variant, bindings)
            return answers.uncached(request, result)
        if self.store.too_large.contains(key, now):
            copy = await self._over_budget_copy(key, target, bindings, now)
            if copy is not None:
                return answers.uncached(request, copy, private=True)
            edge = self._edge_view(now, target, bindings)
            return await self._render_miss(request, key, target, bindings, False, edge)

        found = await self.lookup.find(key, target, bindings.assets, now)
        # What the edge headers of a stored page depend on (None: no edge); read before
        # `refresh` claims the refresh of the revalidation times.
        edge = self._edge_view(now, target, bindings)
        self.shared.refresh(now, bindings.wait_until)
        if found.entry is not None:
            if found.verdict is Verdict.STALE:
                self.regeneration.start(key, target, found.entry, bindings.env, bindings.wait_until)
                return answers.from_entry(request, found.entry, "STALE", edge)
            return answers.from_entry(request, found.entry, "HIT", edge)
        if request.query:
            result = await self._render_client(request, target.route, target.variant, bindings)
            return answers.uncached(request, result)
        return await self._render_miss(request, key, target, bindings, found.seed_unreachable, edge)

    def _edge_view(self, now: float, target: RouteTarget, bindings: Bindings) -> EdgeView | None:
        """None without an edge; else the view, not `current` while this isolate's copy
        of the revalidation times is due for a refresh (`seeding.edge.headers`)."""
        if bindings.edge is None:
            return None
        tags = self.shared.tags
        current = tags is None or not tags.refresh_due(now)
        return EdgeView(now, target.route, self.build_id, current)

    async def _render_miss(
        self,
        request: Request,
        key: str,
        target: RouteTarget,
        bindings: Bindings,
        seed_unreachable: bool,
        edge: EdgeView | None,
    ) -> Response:
        """Nothing to serve: the canonical render, stored when the decision allows."""
        route, variant = target.route, target.variant
        started = self.clock()
        reads = HeaderReads({})
        result = await self._render_canonical(route, variant, bindings.env, reads)
        entry = page_entry(
            result, started, revalidate=result.revalidate, default_expire=self.config.expire
        )
        dynamic = result.dynamic or reads.read
        stopgap = seed_unreachable and not dynamic
        if stopgap and self.store.refusal(key, entry, Source.RENDER) is None:
            # A stopgap while the pack cannot be read: not stored, the seed is retried.
            log.info("seeding: %s rendered while its pack is unreachable", shown_key(key))
            return answers.uncached(request, result, private=True)
        held = self.store.admit(key, entry, Source.RENDER, dynamic=dynamic)
        if isinstance(held, Refusal):
            return await self._not_stored(request, key, target, bindings, entry, held)
        self.store.too_large.discard(key)  # it fits (again)
        if held is entry:
            self.shared.write_later(
                self.build_id, variant, route, entry, started, bindings.wait_until
            )
        return answers.from_entry(request, held, "MISS", edge)

    async def _not_stored(
        self,
        request: Request,
        key: str,
        target: RouteTarget,
        bindings: Bindings,
        entry: CacheEntry,
        refused: Refusal,
    ) -> Response:
        if refused.rule.about_the_request:
            now = self.clock()
            self.per_request.set(key, True, expires_at=now + DYNAMIC_SECONDS, now=now)
            self.shared.rendered_dynamic(self.build_id, target.variant, target.route, now)
            result = await self._render_client(request, target.route, target.variant, bindings)
            return answers.uncached(request, result)
        result = as_result(entry)
        if refused.for_size_alone:
            # Too large for memory (the store remembers it for its window): `no-store`,
            # and kept in KV, when bound, for the next requests (`_over_budget_copy`).
            self.shared.write_later(
                self.build_id,
                target.variant,
                target.route,
                entry,
                entry.generated_at,
                bindings.wait_until,
            )
            return answers.uncached(request, result, private=True)
        return answers.uncached(request, result)

    async def _over_budget_copy(
        self, key: str, target: RouteTarget, bindings: Bindings, now: float
    ) -> RenderResult | None:
        """The KV copy of a page too large for the memory cache, while it is fresh and
        refused by the storage decision for its size alone: read per request, never
        held in memory, so the page is rendered about once per window, not per request.
        None without KV (every request then renders it) or without a usable copy."""
        route = target.route
        await self.shared.ensure_loaded(now, bindings.wait_until)
        copy = await self.shared.read(self.build_id, target.variant, route, now)
        if copy is None or self.shared.verdict(copy, route, now) is not Verdict.FRESH:
            return None
        refused = self.store.refusal(key, copy, Source.SHARED)
        if refused is None or not refused.for_size_alone:
            return None
        return as_result(copy)

    def _resolve(self, path: str) -> tuple[bool, RouteTarget | None]:
        """Whether `path` is private, and the route it names: a pure function of the
        path and the site's config, remembered for the paths seen recently (most
        requests of an isolate are for a few pages)."""
        known = self._resolved.get(path, 0.0)
        if known is not None:
            return known
        config = self.config
        private = is_private_path(path)
        target = None
        if not private:
            target = resolve(
                path,
                base_path=config.base_path,
                trailing_slash=config.trailing_slash,
                data_variant=config.data_variant,
            )
        self._resolved.set(path, (private, target), expires_at=math.inf, now=0.0)
        return private, target

    async def _render_canonical(
        self, route: str, variant: Variant, env: Any, headers: HeaderReads | None = None
    ) -> RenderResult:
        """A render from the canonical request (stored for everyone if allowed)."""
        seen = headers if headers is not None and not self.renderer.declares_vary else None
        return await self.renderer.render(
            canonical_request(
                route, variant, self.clock(), origin=self.origin, env=env, headers=seen
            )
        )

    async def _render_client(
        self, request: Request, route: str, variant: Variant, bindings: Bindings
    ) -> RenderResult:
        """A render from the client's own request (never stored)."""
        return await self.renderer.render(
            await client_render_request(request, route, variant, self.clock(), env=bindings.env)
        )


def create_handler(
    renderer: Renderer,
    *,
    max_bytes: int,
    clock: Clock,
    build: BuildIdentity | None,
    shared: SharedTier | None = None,
    origin: str | None = None,
    deploy_id: str | None = None,
) -> SiteHandler:
    """A page flow with its own isolate-global state (one per isolate) for `build`,
    the deployed build's identity (None: nothing prerendered, every page renders),
    with the shared tier when KV or D1 is bound, rendering stored pages for `origin`
    (`SITE_ORIGIN`; None: the renderer's own)."""
    return SiteHandler(
        renderer,
        MemoryCache(max_bytes),
        clock,
        build,
        shared,
        origin=origin,
        deploy_id=deploy_id,
    )

"""The request flow, in plain Python: private paths, URL normalization, the memory
cache, the shared tier (KV pages, D1 revalidation times and leases; optional), seeding
from assets, and the renderer as the fallback.

    request -> revalidation endpoint? -> private? 404 -> normalize
      -> memory -> (miss) KV, then assets seed; or the seed first for a route the build
         says never revalidates -> HIT / STALE (served at once, regenerated in the
         background: a newer copy in KV, else the lease, then a render written to KV)
      -> (nothing usable) render -> MISS (stored in memory, written to KV later)

A page's freshness is its own revalidate / expire times and the on-demand revalidations
of its route and tags (`SharedTier.verdict`, never waiting on D1). GET and HEAD are
served from the cache; any other method goes to the renderer with its body and is never
cached. A request with a query string is served from the cache when the route is there;
otherwise its render is answered but not stored (the cache is keyed by route alone).
Seeding and shared-tier failures never surface: the renderer answers instead. Only a
renderer that raises on the request path gives a 500 (logged with its traceback).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from seeding.config import SiteConfig
from seeding.edge.headers import EDGE_CACHE_CONTROL, EDGE_NO_STORE, EdgeView  # edge
from seeding.edge.purge import EdgeCache, EdgePurger, EdgeReport, answer_with_edge  # edge
from seeding.flow.policy import (
    CACHE_STATUS_HEADER,
    DYNAMIC_CACHE_CONTROL,
    NEXTJS_CACHE_HEADER,
    if_none_match_hits,
    is_private_request,
    is_private_response,
)
from seeding.http import BodyTooLarge, Request, Response, text_response
from seeding.primitives.cache import CacheEntry, MemoryCache, cache_key, etag_for, shown_key
from seeding.primitives.regenerator import Regenerator
from seeding.rendering import Renderer, RenderRequest, RenderResult
from seeding.revalidation import RevalidationRequest, handle_revalidation
from seeding.routes import (
    NOT_FOUND_ROUTE,
    RouteTarget,
    Variant,
    canonical_path,
    is_private_path,
)
from seeding.routes import resolve_request_path as resolve
from seeding.seed.assets import AssetFetcher
from seeding.seed.build_identity import BuildIdentity
from seeding.seed.packs import RouteDigest
from seeding.seed.seeder import Seeder
from seeding.shared.tag_clock import Verdict
from seeding.shared.tier import SharedTier

log = logging.getLogger("seeding")

# Key prefix for pages rendered when the Worker has no prerendered build and was given
# no deploy identity (unit tests); the Worker always gives one (`deploy_id`).
NO_BUILD = "-"
CACHED_METHODS = ("GET", "HEAD")
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


@dataclass(frozen=True)
class Revalidation:
    """The on-demand revalidation endpoint: its URL path and its secret (None: the
    endpoint answers 404, disabled)."""

    path: str
    secret: str | None


class SiteHandler:
    def __init__(
        self,
        renderer: Renderer,
        cache: MemoryCache,
        clock: Clock,
        build: BuildIdentity | None = None,
        shared: SharedTier | None = None,
        revalidation: Revalidation | None = None,
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
        self.seeder = (
            Seeder(cache, build, clock, default_expire=self.config.expire)
            if build is not None
            else None
        )
        self.shared = shared or SharedTier()
        self.revalidation = revalidation
        self.regenerator = Regenerator(clock)
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # edge: retry pauses
        self._resolved: dict[str, tuple[bool, RouteTarget | None]] = {}

    async def handle(self, request: Request, bindings: Bindings) -> Response:
        try:
            return await self._handle(request, bindings)
        except BodyTooLarge as exc:
            return text_response(413, str(exc), {"cache-control": DYNAMIC_CACHE_CONTROL})
        except Exception:
            log.exception("error while handling %s %s", request.method, request.path)
            return text_response(
                500, "Internal Server Error", {"cache-control": DYNAMIC_CACHE_CONTROL}
            )

    async def _handle(self, request: Request, bindings: Bindings) -> Response:
        path = request.path
        if self.revalidation is not None and path == self.revalidation.path:
            return await self._revalidate(request, self.revalidation, bindings)  # edge
        config = self.config
        private, target = self._resolve(path)
        if private:
            return text_response(404, "Not Found", {"cache-control": DYNAMIC_CACHE_CONTROL})
        if target is None:
            # Not a possible route (outside basePath, malformed): the site's 404 page.
            result = await self._render(request, NOT_FOUND_ROUTE, Variant.HTML, bindings)
            return self._uncached(request, result)
        if not target.canonical:
            return self._redirect_to_canonical(request, target)
        if request.method.upper() not in CACHED_METHODS:
            result = await self._render(request, target.route, target.variant, bindings)
            return self._uncached(request, result, force_private=True)
        if is_private_request(request.headers, config.session_cookies):
            result = await self._render(request, target.route, target.variant, bindings)
            return self._uncached(request, result, force_private=True)

        key = cache_key(self.build_id, target.variant, target.route)
        now = self.clock()
        entry, verdict = await self._lookup(key, target, bindings, now)
        # edge: what the edge headers of a stored page depend on (None: no edge); read
        # before `refresh` claims the refresh of the revalidation times.
        edge = self._edge_view(now, target, bindings)
        self.shared.refresh(now, bindings.wait_until)
        if entry is not None:
            if verdict is Verdict.STALE:
                self._regenerate_later(key, target, entry, bindings)
                return self._from_entry(request, entry, "STALE", edge)
            return self._from_entry(request, entry, "HIT", edge)

        result = await self._render(request, target.route, target.variant, bindings)
        fresh = self._cacheable_entry(result) if not request.query else None
        if fresh is None:
            if result.dynamic:
                self.shared.rendered_dynamic(self.build_id, target.variant, target.route, now)
            return self._uncached(request, result)
        self._store(key, fresh)
        self.shared.write_later(
            self.build_id, target.variant, target.route, fresh, now, bindings.wait_until
        )
        return self._from_entry(request, fresh, "MISS", edge)

    def _edge_view(self, now: float, target: RouteTarget, bindings: Bindings) -> EdgeView | None:
        """edge: None without an edge; else the view, not `current` while this isolate's
        copy of the revalidation times is due for a refresh."""
        if bindings.edge is None:
            return None
        tags = self.shared.tags
        current = tags is None or not tags.refresh_due(now)
        return EdgeView(now, target.route, self.build_id, current)

    def _resolve(self, path: str) -> tuple[bool, RouteTarget | None]:
        """Whether `path` is private, and the route it names: a pure function of the
        path and the site's config, remembered for the paths seen recently (most
        requests of an isolate are for a few pages)."""
        known = self._resolved.get(path)
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
        if len(self._resolved) >= MAX_RESOLVED_PATHS:
            self._resolved.clear()  # a scan of unique paths cannot grow it
        self._resolved[path] = (private, target)
        return private, target

    async def _lookup(
        self, key: str, target: RouteTarget, bindings: Bindings, now: float
    ) -> tuple[CacheEntry | None, Verdict]:
        """The page to serve and how (FRESH or STALE); (None, EXPIRED) when there is
        none to serve. Memory first, never waiting on anything; then the shared tier
        (KV) and the assets, in the order that costs least for the route. A route the
        build says never revalidates is seeded without waiting on the shared tier at
        all (its revalidation times refresh in the background, as for a memory hit)."""
        shared = self.shared
        route, variant = target.route, target.variant
        entry = self.cache.get(key)
        if entry is not None:
            verdict = shared.verdict(entry, route, now)
            if verdict is not Verdict.EXPIRED:
                return entry, verdict
            self.cache.delete(key)
        digest, static = None, False  # without a build nothing is seeded: no digest needed
        if self.build is not None:
            digest = RouteDigest.of(route)
            static = self.build.never_revalidates(digest)
        if not static:
            await shared.ensure_loaded(now)

        async def seeded() -> CacheEntry | None:
            if self.seeder is None:
                return None
            return await self.seeder.seed(bindings.assets, route, variant, digest)

        async def shared_copy() -> CacheEntry | None:
            return await shared.read(self.build_id, variant, route, now)

        best: CacheEntry | None = None
        best_verdict = Verdict.EXPIRED
        for source in (seeded, shared_copy) if static else (shared_copy, seeded):
            found = await source()
            if found is None:
                continue
            verdict = shared.verdict(found, route, now)
            if verdict is Verdict.EXPIRED:
                continue
            if best is None or found.generated_at > best.generated_at:
                best, best_verdict = found, verdict
            if verdict is Verdict.FRESH:
                break
        if best is None:
            self.cache.delete(key)  # a seed that was expired on arrival
            return None, Verdict.EXPIRED
        if self.cache.peek(key) is not best:
            self._store(key, best)
        return best, best_verdict

    async def _render(
        self, request: Request | None, route: str, variant: Variant, bindings: Bindings
    ) -> RenderResult:
        """Render for `request`, or with no request at all (None: background
        regeneration, which stores for every client, as the build does). Cache keys
        are made from the route alone, so unless the renderer declares what it
        varies on, a page that reads the request's headers is made dynamic: it may
        differ per client and must not be stored."""
        if request is None:
            return await self.renderer.render(
                RenderRequest(route=route, variant=variant, now=self.clock(), env=bindings.env)
            )
        tracked = _ReadTracking(request.headers)
        headers: Mapping[str, str] = request.headers if self.renderer.declares_vary else tracked
        passthrough = request.method.upper() not in CACHED_METHODS
        result = await self.renderer.render(
            RenderRequest(
                route=route,
                variant=variant,
                now=self.clock(),
                method=request.method.upper() if passthrough else "GET",
                headers=headers,
                query=request.query,
                body=await request.read_body() if passthrough else b"",
                env=bindings.env,
            )
        )
        if tracked.read and not result.dynamic:
            return dataclasses.replace(result, dynamic=True)
        return result

    def _cacheable_entry(self, result: RenderResult) -> CacheEntry | None:
        if not result.cacheable or is_private_response(result.headers):
            return None
        return self._entry(result, result.status, result.revalidate)

    def _entry(self, result: RenderResult, status: int, revalidate: int | None) -> CacheEntry:
        return CacheEntry(
            body=result.body,
            status=status,
            headers=dict(result.headers),
            generated_at=self.clock(),
            revalidate=revalidate,
            expire=result.expire if result.expire is not None else self.config.expire,
            tags=result.tags,
        )

    def _not_found_entry(self, result: RenderResult, key: str) -> CacheEntry:
        previous = self.cache.peek(key)
        return self._entry(result, 404, previous.revalidate if previous else None)

    def _store(self, key: str, entry: CacheEntry) -> None:
        try:
            self.cache.set(key, entry)
        except Exception:
            log.exception("cache write failed for %s; serving uncached", shown_key(key))

    def _regenerate_later(
        self, key: str, target: RouteTarget, stale: CacheEntry, bindings: Bindings
    ) -> None:
        shared, route, variant = self.shared, target.route, target.variant

        async def regenerate() -> bool:
            now = self.clock()
            # Another isolate may have regenerated it already: take its copy.
            newer = await shared.read(self.build_id, variant, route, now, recheck=True)
            if (
                newer is not None
                and newer.generated_at > stale.generated_at
                and shared.verdict(newer, route, now) is Verdict.FRESH
            ):
                self._store(key, newer)
                log.info("seeding: took %s from KV (made by another isolate)", shown_key(key))
                return True
            if not await shared.may_regenerate(self.build_id, variant, route, stale, now):
                return False  # another isolate holds the lease for this window
            try:
                # Not with the triggering request's headers: its page is stored for all.
                result = await self._render(None, route, variant, bindings)
                if result.status == 404:
                    # The page is gone: a 404 replaces it, regenerated like the page
                    # was, so the build's copy is not seeded back on the next request.
                    fresh: CacheEntry | None = self._not_found_entry(result, key)
                else:
                    fresh = self._cacheable_entry(result)
                if fresh is None:
                    raise RuntimeError(f"renderer answered {result.status}, not a cacheable page")
            except Exception:
                await shared.regeneration_failed(self.build_id, variant, route, stale, now)
                raise
            self._store(key, fresh)
            log.info("seeding: regenerated %s", shown_key(key))
            await shared.write(self.build_id, variant, route, fresh, self.clock())
            return True

        job = self.regenerator.claim(key, regenerate)
        if job is not None:
            bindings.wait_until(job)

    async def _revalidate(
        self, request: Request, endpoint: Revalidation, bindings: Bindings
    ) -> Response:
        tags = self.shared.tags
        edge_report: list[EdgeReport] = []  # edge

        async def apply(wanted: RevalidationRequest) -> bool:
            if tags is None:
                log.error("seeding: on-demand revalidation needs the D1 binding; nothing done")
                return False
            recorded = await tags.revalidate(wanted.paths, wanted.tags, wanted.mode, self.clock())
            # edge: once D1 holds it, purge (expire) or invalidate (stale) at the edge.
            if recorded and bindings.edge is not None:
                purger = EdgePurger(bindings.edge, bindings.wait_until, self.clock, self.sleep)
                again = tags.max_age + 1.0  # once every isolate's snapshot has it
                report = await purger.revalidate(
                    wanted.paths, wanted.tags, wanted.mode, again_after=again
                )
                edge_report.append(report)
            return recorded

        answer = await handle_revalidation(
            request.method.upper(),
            request.headers,
            request.read_body,
            endpoint.secret,
            apply,
            site=self.config,
        )
        headers = {
            "content-type": "application/json",
            "cache-control": DYNAMIC_CACHE_CONTROL,
            **answer.headers,
        }
        body = answer.body
        if answer.status == 200:  # edge: say what reached D1 and what reached the edge
            body = answer_with_edge(body, edge_report[0] if edge_report else None)
        return Response(answer.status, headers, body)

    def _from_entry(
        self, request: Request, entry: CacheEntry, status_label: str, edge: EdgeView | None
    ) -> Response:
        headers = entry.served_headers(status_label, edge)
        if if_none_match_hits(request.header("if-none-match"), entry.etag):
            headers = {k: v for k, v in headers.items() if k != "content-type"}
            return Response(304, headers, b"")
        body = b"" if request.method.upper() == "HEAD" else entry.body
        return Response(entry.status, headers, body)

    def _uncached(
        self, request: Request, result: RenderResult, *, force_private: bool = False
    ) -> Response:
        headers = dict(result.headers)
        if force_private or "cache-control" not in headers:
            headers["cache-control"] = DYNAMIC_CACHE_CONTROL
        # edge: the edge never stores what the Worker did not, whatever the app says.
        headers[EDGE_CACHE_CONTROL] = EDGE_NO_STORE
        if result.status == 200 and "etag" not in headers and not result.dynamic:
            headers["etag"] = etag_for(result.body)
        headers[CACHE_STATUS_HEADER] = "MISS"
        headers[NEXTJS_CACHE_HEADER] = "MISS"
        body = b"" if request.method.upper() == "HEAD" else result.body
        return Response(result.status, headers, body)

    def _redirect_to_canonical(self, request: Request, target: RouteTarget) -> Response:
        path = canonical_path(
            target.route,
            target.variant,
            base_path=self.config.base_path,
            trailing_slash=self.config.trailing_slash,
        )
        location = quote(path, safe="/:@!$&'()*+,;=-._~")
        if request.query:
            location += "?" + request.query
        return Response(308, {"location": location, "cache-control": DYNAMIC_CACHE_CONTROL})


class _ReadTracking(Mapping[str, str]):
    """Request headers that note whether the renderer looked at them (any access:
    a lookup, `in`, iteration, `len`, a copy)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)
        self.read = False

    def __getitem__(self, name: str) -> str:
        self.read = True
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        self.read = True
        return iter(self._headers)

    def __len__(self) -> int:
        self.read = True
        return len(self._headers)

    def __contains__(self, name: object) -> bool:
        self.read = True
        return name in self._headers


def create_handler(
    renderer: Renderer,
    *,
    max_bytes: int,
    clock: Clock,
    build: BuildIdentity | None,
    shared: SharedTier | None = None,
    revalidation: Revalidation | None = None,
    deploy_id: str | None = None,
) -> SiteHandler:
    """A handler with its own isolate-global state (one per isolate) for `build`, the
    deployed build's identity (None: nothing prerendered, every page renders), with
    the shared tier when KV or D1 is bound."""
    return SiteHandler(
        renderer, MemoryCache(max_bytes), clock, build, shared, revalidation, deploy_id
    )

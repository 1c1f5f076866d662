"""The prerender step: render every prerenderable route of a site into a build directory
(`<out>/meta/manifest.json` plus one body file per route variant), with the site's own
renderer under CPython.

- Routes come from the site (`Renderer.site_routes`); with `CrawlLimits`, the step also
  follows same-origin links from the rendered pages (`seeding.build.crawl`), up to a
  depth and a number of routes.
- A declared route whose render is not a 200, is over the 25 MiB asset limit, or
  raises, is recorded as "error" with the reason, and the step's exit code says so. A
  route whose answer is dynamic (e.g. `Cache-Control: no-store`) is recorded as
  "skipped" with the reason: it renders per request. A route found by crawling that
  answers anything but a cacheable 200 is skipped with the reason, not an error.
- The build is written beside the old one and swapped in at the end (`files.Swap`), so
  a failed run never leaves a half-written build.
- A route whose tag the edge (Workers Cache) would drop is an error naming the tag and
  the fix (`seeding.edge.tags.check_page_tags`).
- Each variant's headers get its ETag (`cache.etag_for`, unless the site sent one), so
  the Worker answers conditional requests for a seeded page without hashing its body.

Exit codes (`ExitCode`): 0 every route rendered; 1 a route failed (named); 3 the build
could not be written (the previous one is kept); 4 the site failed to start.
"""

from __future__ import annotations

import shutil
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from urllib.parse import urlsplit

from seeding.build.crawl import linked_routes
from seeding.build.files import OutputError, Swap, write_file
from seeding.build.manifest import (
    MANIFEST_FILE,
    BuiltRoute,
    BuiltVariant,
    PrerenderManifest,
    new_build_id,
    variant_file,
)
from seeding.edge.tags import EdgeTagError, check_page_tags
from seeding.primitives.cache import etag_for
from seeding.rendering import (
    Renderer,
    RenderMode,
    RenderRequest,
    SiteRoute,
    SiteStartupError,
)
from seeding.routes import InvalidRouteKey, Variant, validate_route_key
from seeding.schema import MAX_ASSET_BYTES, RouteStatus


class ExitCode(IntEnum):
    OK = 0
    ROUTE_FAILED = 1
    USAGE = 2
    CANNOT_WRITE = 3
    SITE_FAILED = 4


@dataclass(frozen=True)
class CrawlLimits:
    """Follow links at most `depth` clicks from a declared route, and stop adding
    routes once the build lists `max_routes`."""

    depth: int = 2
    max_routes: int = 1000


class RouteFailed(Exception):
    pass


class RouteSkipped(Exception):
    pass


async def render_route(
    site: Renderer, route: SiteRoute, built_at: float, out: Path, origin: str | None = None
) -> tuple[BuiltRoute, bytes | None]:
    """Render every variant of `route` into `out`, from the canonical request the Worker
    also renders stored pages from (`seeding.flow.canonical`: `origin`, no headers);
    the record and the HTML body (for link discovery). Raises RouteFailed /
    RouteSkipped with the reason."""
    config = site.config
    validate_route_key(route.path, data_variant=config.data_variant)
    variants: dict[Variant, BuiltVariant] = {}
    first = None
    html = None
    for variant in route.variants:
        if variant is Variant.DATA and not config.data_variant:
            continue
        result = await site.render(
            RenderRequest(
                route=route.path, variant=variant, now=built_at, phase="build", origin=origin
            )
        )
        if result.status != 200:
            raise RouteFailed(f"the {variant.value} variant answered HTTP {result.status}")
        if result.dynamic:
            raise RouteSkipped(f"the {variant.value} variant is dynamic: rendered per request")
        if len(result.body) > MAX_ASSET_BYTES:
            raise RouteFailed(
                f"the {variant.value} variant is {len(result.body)} bytes, over the 25 MiB "
                "asset limit"
            )
        first = first or result
        if variant is Variant.HTML:
            html = result.body
        relative = variant_file(route.path, variant)
        write_file(out / relative, result.body)
        headers = {k.lower(): v for k, v in result.headers.items()}
        # The ETag the Worker answers with, hashed here once rather than at each seed.
        headers.setdefault("etag", etag_for(result.body))
        variants[variant] = BuiltVariant(relative, len(result.body), headers)
    if first is None:
        raise RouteFailed("the route has no variant to render")
    try:
        check_page_tags(first.tags)
    except EdgeTagError as exc:  # the edge would drop it without a word
        raise RouteFailed(f"Cache-Tag: {exc}") from None
    record = BuiltRoute(
        path=route.path,
        pattern=route.pattern,
        status=RouteStatus.RENDERED,
        revalidate=first.revalidate,
        expire=first.expire if first.expire is not None else config.expire,
        tags=first.tags,
        variants=variants,
    )
    return record, html


class Progress:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out

    def route(self, n: int, total: int, path: str, what: str) -> None:
        self.out(f"  [{n}/{total}] {path}: {what}")


async def build(
    site: Renderer,
    out: Path,
    *,
    crawl: CrawlLimits | None = None,
    clock: Callable[[], float] = time.time,
    say: Callable[[str], None] = print,
    origin: str | None = None,
) -> tuple[PrerenderManifest, list[str]]:
    """Render into `out` (a fresh directory); the manifest and the failed routes.
    `origin`: the site's `SITE_ORIGIN` (None: the renderer's own default)."""
    built_at = clock()
    build_id = new_build_id(built_at)
    origin_host = urlsplit(origin).netloc if origin else "localhost"
    config = site.config
    declared = list(await site.site_routes())
    records: dict[str, BuiltRoute] = {}
    failed: list[str] = []
    queue: deque[tuple[SiteRoute, int, bool]] = deque((r, 0, True) for r in declared)
    listed = {r.path for r in declared}
    twice = sorted(path for path, count in Counter(r.path for r in declared).items() if count > 1)
    if twice:
        raise RouteFailed(f"the site lists these routes twice: {', '.join(twice)}")
    say(f"prerender: build {build_id}, {len(declared)} routes -> {out}")
    progress = Progress(say)
    n = 0
    while queue:
        route, depth, is_declared = queue.popleft()
        n += 1
        total = n + len(queue)
        if route.mode is not RenderMode.PRERENDER:
            records[route.path] = BuiltRoute(
                path=route.path,
                pattern=route.pattern,
                status=RouteStatus.SKIPPED,
                reason=route.reason or route.mode.value,
            )
            progress.route(n, total, route.path, f"skipped ({route.mode.value})")
            continue
        try:
            record, html = await render_route(site, route, built_at, out, origin)
        except (OutputError, SiteStartupError):
            raise
        except RouteSkipped as exc:
            records[route.path] = BuiltRoute(
                route.path, route.pattern, RouteStatus.SKIPPED, reason=str(exc)
            )
            progress.route(n, total, route.path, f"skipped: {exc}")
            continue
        except Exception as exc:
            reason = str(exc) if isinstance(exc, RouteFailed) else f"{type(exc).__name__}: {exc}"
            status = RouteStatus.ERROR if is_declared else RouteStatus.SKIPPED
            records[route.path] = BuiltRoute(route.path, route.pattern, status, reason=reason)
            if is_declared:
                failed.append(route.path)
                progress.route(n, total, route.path, f"ERROR {reason}")
                if not isinstance(exc, (RouteFailed, InvalidRouteKey)):
                    traceback.print_exc(file=sys.stderr)
            else:
                progress.route(n, total, route.path, f"skipped (found by crawling): {reason}")
            continue
        records[route.path] = record
        sizes = ", ".join(f"{v.value} {r.bytes} B" for v, r in record.variants.items())
        progress.route(n, total, route.path, f"rendered ({sizes})")
        if crawl is not None and html is not None and depth < crawl.depth:
            for found in linked_routes(html, route.path, config, origin_host):
                if found in listed or len(listed) >= crawl.max_routes:
                    continue
                listed.add(found)
                queue.append((SiteRoute(found, found, RenderMode.PRERENDER), depth + 1, False))
    manifest = PrerenderManifest(
        build_id=build_id,
        built_at=built_at,
        base_path=config.base_path,
        trailing_slash=config.trailing_slash,
        data_variant=config.data_variant,
        routes=records,
    )
    return manifest, failed


async def write_build(
    site: Renderer,
    out: Path,
    *,
    crawl: CrawlLimits | None = None,
    clock: Callable[[], float] = time.time,
    say: Callable[[str], None] = print,
    origin: str | None = None,
) -> ExitCode:
    """Render into a staging directory beside `out`, then swap it in; the exit code."""
    out = out.resolve()
    swap = Swap(out, out.parent)
    try:
        swap.recover()
        staging = swap.staging()
    except (OutputError, OSError) as exc:
        return _cannot_write(out, exc)
    try:
        manifest, failed = await build(
            site, staging, crawl=crawl, clock=clock, say=say, origin=origin
        )
        write_file(staging / MANIFEST_FILE, manifest.to_json().encode("utf-8"))
        swap.swap_in(staging)
    except (OutputError, OSError) as exc:
        _remove(staging)
        return _cannot_write(out, exc)
    except SiteStartupError as exc:
        _remove(staging)
        print(f"prerender: error: the site failed to start: {exc}", file=sys.stderr)
        return ExitCode.SITE_FAILED
    except RouteFailed as exc:
        _remove(staging)
        print(f"prerender: error: {exc}", file=sys.stderr)
        return ExitCode.ROUTE_FAILED
    except BaseException:
        _remove(staging)
        raise
    counts = {status: 0 for status in RouteStatus}
    for record in manifest.routes.values():
        counts[record.status] += 1
    say(
        f"prerender: {counts[RouteStatus.RENDERED]} rendered, "
        f"{counts[RouteStatus.SKIPPED]} skipped, {counts[RouteStatus.ERROR]} failed; "
        f"manifest {out / MANIFEST_FILE}"
    )
    if failed:
        print(f"prerender: failed routes: {', '.join(failed)}", file=sys.stderr)
        return ExitCode.ROUTE_FAILED
    return ExitCode.OK


def _remove(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _cannot_write(out: Path, exc: BaseException) -> ExitCode:
    print(
        f"prerender: error: could not write the build: {exc} ({out} is left as it was)",
        file=sys.stderr,
    )
    return ExitCode.CANNOT_WRITE

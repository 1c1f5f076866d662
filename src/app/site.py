"""The site as a `seeding.rendering.Renderer`: route -> page data -> one variant.

`render` never raises for any route string: an unknown route renders the 404 page
(status 404) in the variant asked for. Both variants of a page are rendered from the
same page data and carry the same generation stamp, taken from the request. Pages are
tagged with what they show (`posts`, `post:<slug>`, `tag:<name>`), for on-demand
revalidation. The site only answers GET: any other method is 405.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app import data, pages, routing, views
from app.config import SITE_CONFIG
from app.stamp import Stamp, make_stamp
from seeding.config import SiteConfig
from seeding.rendering import RenderRequest, RenderResult, SiteRoute
from seeding.routes import Variant


class Site:
    """The example blog. Stateless: safe to share across requests and isolates."""

    # Its pages read no request header (the handler checks: one that did would be
    # served uncached).
    declares_vary = False

    @property
    def config(self) -> SiteConfig:
        return SITE_CONFIG

    async def site_routes(self) -> Sequence[SiteRoute]:
        return routing.site_routes()

    async def render(self, request: RenderRequest) -> RenderResult:
        return self.render_sync(request)

    def render_sync(self, request: RenderRequest) -> RenderResult:
        """The work of `render`, for callers without an event loop."""
        if request.method not in ("GET", "HEAD"):
            return RenderResult(
                405,
                {"content-type": "text/plain; charset=utf-8", "allow": "GET, HEAD"},
                b"Method Not Allowed",
                dynamic=True,
            )
        spec = routing.match(request.route)
        stamp = make_stamp(request.now, request.phase)
        if spec is None:
            page: pages.Page = pages.not_found_page(request.route)
            status, revalidate, dynamic = 404, None, False
        else:
            page = pages.build_page(spec, request.now)
            found = not isinstance(page, pages.NotFoundPage)
            status = 200 if found else 404
            revalidate, dynamic = spec.revalidate, spec.dynamic
        variant = Variant(request.variant)
        if variant is Variant.HTML:
            body = views.render_html(page, stamp).encode("utf-8", "replace")
        else:
            body = data.dumps(envelope(page, status, revalidate, stamp))
        return RenderResult(
            status=status,
            headers={"content-type": variant.content_type},
            body=body,
            revalidate=revalidate,
            dynamic=dynamic,
            tags=routing.tags(spec) if spec is not None else (),
        )


def envelope(page: pages.Page, status: int, revalidate: int | None, stamp: Stamp) -> dict[str, Any]:
    """The JSON document of a page: what a client-side router needs to render it."""
    document: dict[str, Any] = {}
    if status == 404:
        document["notFound"] = True
    document.update(
        route=page.meta.path,
        status=status,
        kind=page.page_kind.value,
        revalidate=revalidate,
        page=page,
        generated=stamp.to_data(),
    )
    return document


SITE = Site()

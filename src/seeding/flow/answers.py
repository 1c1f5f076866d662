"""The answers of the page flow, each made from what it answers with: a cached page
(200 or its own status, 304 for a matching `If-None-Match` on a 2xx page only, RFC 9110
§13.2.1, HEAD without a body), a render that is not stored, the redirect to a route's
canonical URL, the 404 of a private path and the project's own 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from seeding.config import SiteConfig
from seeding.edge.headers import EDGE_CACHE_CONTROL, EDGE_NO_STORE, EdgeView
from seeding.flow.policy import (
    CACHE_STATUS_HEADER,
    DYNAMIC_CACHE_CONTROL,
    NEXTJS_CACHE_HEADER,
    if_none_match_hits,
)
from seeding.http import BodyTooLarge, Request, Response, text_response
from seeding.primitives.cache import CacheEntry, etag_for
from seeding.rendering import RenderResult
from seeding.routes import RouteTarget, canonical_path

log = logging.getLogger("seeding")


def from_entry(
    request: Request, entry: CacheEntry, status_label: str, edge: EdgeView | None = None
) -> Response:
    """A cached page, labelled HIT, STALE or MISS, with the edge's headers when `edge`
    is given (`seeding.edge.headers`)."""
    headers = entry.served_headers(status_label, edge)
    if 200 <= entry.status < 300 and if_none_match_hits(
        request.header("if-none-match"), entry.etag
    ):
        headers = {k: v for k, v in headers.items() if k != "content-type"}
        return Response(304, headers, b"")
    body = b"" if request.method.upper() == "HEAD" else entry.body
    return Response(entry.status, headers, body)


def uncached(request: Request, result: RenderResult, *, private: bool = False) -> Response:
    """A render answered to this client alone. `private`: sent with the dynamic
    Cache-Control whatever the page said (credentials, a method other than GET,
    a page too large to store, a stopgap render). The edge never stores it, whatever
    the app's own Cache-Control says."""
    headers = dict(result.headers)
    if private or "cache-control" not in headers:
        headers["cache-control"] = DYNAMIC_CACHE_CONTROL
    headers[EDGE_CACHE_CONTROL] = EDGE_NO_STORE
    if result.status == 200 and "etag" not in headers and not result.dynamic:
        headers["etag"] = etag_for(result.body)
    headers[CACHE_STATUS_HEADER] = "MISS"
    headers[NEXTJS_CACHE_HEADER] = "MISS"
    body = b"" if request.method.upper() == "HEAD" else result.body
    return Response(result.status, headers, body)


def redirect_to_canonical(request: Request, target: RouteTarget, config: SiteConfig) -> Response:
    path = canonical_path(
        target.route,
        target.variant,
        base_path=config.base_path,
        trailing_slash=config.trailing_slash,
    )
    location = quote(path, safe="/:@!$&'()*+,;=-._~")
    if request.query:
        location += "?" + request.query
    return Response(308, {"location": location, "cache-control": DYNAMIC_CACHE_CONTROL})


def private_path() -> Response:
    return text_response(404, "Not Found", {"cache-control": DYNAMIC_CACHE_CONTROL})


def internal_error() -> Response:
    return text_response(500, "Internal Server Error", {"cache-control": DYNAMIC_CACHE_CONTROL})


async def guarded(request: Request, answer: Callable[[], Awaitable[Response]]) -> Response:
    """`answer()`; a 413 for a request body over its limit; the project's own 500
    (logged with its traceback) for anything else that raises."""
    try:
        return await answer()
    except BodyTooLarge as exc:
        return text_response(413, str(exc), {"cache-control": DYNAMIC_CACHE_CONTROL})
    except Exception:
        log.exception("error while handling %s %s", request.method, request.path)
        return internal_error()

"""The two requests a page can be rendered from.

- The canonical request, for every render whose answer may be stored for everyone
  (a GET or HEAD render on request, a background regeneration, and the build's
  prerender, which makes the same request): what every client shares and nothing
  else. The scheme and host are the site's configured origin (`SITE_ORIGIN` in
  `[vars]`, `seeding.config.Settings.site_origin`; unset: the renderer's own default,
  `AsgiSite(origin=...)`), and no request header at all is passed on: no `Cookie`,
  no `Authorization`, no `Accept-Encoding` (so nothing is compressed for one client),
  no `Host` of the client's, and none of the headers known to poison caches (the
  Workers Cache "Cache keys" list: `X-Forwarded-Host`, `X-Host`,
  `X-Forwarded-Scheme`, `X-Original-URL`, `X-Rewrite-URL`, `Forwarded`, the method
  overrides; PortSwigger's unkeyed headers: `X-Forwarded-Proto`,
  `X-Forwarded-Port`, `X-Original-Host`, `True-Client-IP`, ...). No query and no
  body either. An allow-list of nothing rather than a deny-list: a header nobody has
  listed yet cannot leak into a stored page.
- The client's own request (`client_render_request`): its method, headers, query and
  body. Only for answers that are never stored: methods other than GET and HEAD, a
  request with credentials, a query string that missed the cache, and a page whose
  canonical render said it depends on the request (dynamic, `Vary`, `private` or
  `no-store`, `Set-Cookie`, a compressed body). Such a page is rendered again from the
  client's request and answered to that client alone.

A renderer that does not declare what it varies on (`Renderer.declares_vary` False)
gets the canonical headers through `HeaderReads`: a render that looks at them at all
is taken as dynamic, so it is made again from the client's own request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from seeding.http import Request
from seeding.rendering import RenderRequest
from seeding.routes import Variant

CACHED_METHODS = ("GET", "HEAD")


class HeaderReads(Mapping[str, str]):
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


def canonical_request(
    route: str,
    variant: Variant,
    now: float,
    *,
    origin: str | None,
    env: Any,
    headers: Mapping[str, str] | None = None,
) -> RenderRequest:
    """The request every client shares for `route` (`headers`: an empty mapping of
    the caller's, e.g. `HeaderReads({})` to see whether the renderer looks)."""
    return RenderRequest(
        route=route,
        variant=variant,
        now=now,
        headers=headers if headers is not None else {},
        origin=origin,
        env=env,
    )


async def client_render_request(
    request: Request, route: str, variant: Variant, now: float, *, env: Any
) -> RenderRequest:
    """The client's own request, for an answer that is never stored. GET and HEAD
    render as GET (the flow drops the body of a HEAD answer). The body is read within
    its limit (`Request.read_body`: BodyTooLarge past it)."""
    method = request.method.upper()
    passthrough = method not in CACHED_METHODS
    return RenderRequest(
        route=route,
        variant=variant,
        now=now,
        method=method if passthrough else "GET",
        headers=request.headers,
        query=request.query,
        body=await request.read_body() if passthrough else b"",
        env=env,
    )

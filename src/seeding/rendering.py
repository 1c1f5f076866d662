"""The contract between the seeding layer and a site's renderer: the edge every site
plugs into, whether it is a hand-written renderer (the example blog, `app.SITE`) or any
ASGI app behind `seeding.asgi.AsgiSite`.

The same renderer runs at build time (CPython: the prerender step) and at run time
(the Worker), so both produce the same pages for the same input. A renderer:

- has a `config` (`SiteConfig`: basePath, trailing slash, data variant, expire);
- lists the routes it knows at build time (`site_routes`, awaited once by the build),
  each with the variants it has;
- renders one variant of one route (`render`). The build and background regeneration
  render with no request at all (no headers, no query). A render for a request gets
  its headers and query, and the method and body of non-GET requests. The cache is
  keyed by route alone, so a render whose request had a query string is never stored
  (cached routes ignore the query; dynamic ones see it), and a page that depends on a
  request header must not be stored either: a renderer that `declares_vary` says so in
  its answer (an ASGI app sends `Vary`; see `seeding.cache_headers`); for one that
  does not, any render that reads a request header is taken as dynamic.

What a render answers decides how it is cached (`RenderResult`): `revalidate`,
`expire`, `dynamic` and `tags`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from seeding.config import SiteConfig
from seeding.routes import Variant


class RenderMode(str, Enum):
    """How a route of the site is produced."""

    PRERENDER = "prerender"  # rendered at build time and seeded from assets
    ON_DEMAND = "on-demand"  # rendered on first request, then cached
    DYNAMIC = "dynamic"  # rendered for every request, never cached


@dataclass(frozen=True)
class SiteRoute:
    """A concrete route the site knows at build time, and the variants it has (the
    data variant only where the site's config opts in)."""

    pattern: str  # e.g. "/blog/[slug]"
    path: str  # route key, e.g. "/blog/hello-world"
    mode: RenderMode
    reason: str = ""  # why a route is not prerendered, for the manifest
    variants: tuple[Variant, ...] = (Variant.HTML,)


@dataclass(frozen=True)
class RenderRequest:
    """What the renderer may know about the request. `now` is epoch seconds read
    inside the request (the Workers clock only moves on I/O).

    `headers` (lower-case names), `query` and `body` are the client's; empty for the
    canonical request (the build, background regeneration, a render that may be
    stored). `origin` is the site's configured origin (scheme and host, e.g.
    "https://example.com") for the canonical request, None for a client's own request
    (whose `host` header says it) or when no origin is configured (the renderer's own
    default). `env` is the Worker's env at run time (its `[vars]` and bindings), None
    at build time.
    """

    route: str
    variant: Variant
    now: float
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    body: bytes = b""
    # "build" when prerendering, "request" at run time: pages may say how they
    # were made, which is how users and tests can tell a seed from a render.
    phase: str = "request"
    env: Any = None
    origin: str | None = None


@dataclass(frozen=True)
class RenderResult:
    """One rendered variant.

    `revalidate` is seconds until the page is stale, or None for never; `expire` is
    seconds after which it must not be served even stale (None: the site's
    default). `dynamic` pages are never cached, whatever `revalidate` says. `tags`
    name the content the page shows, for on-demand revalidation.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    revalidate: int | None = None
    expire: int | None = None
    dynamic: bool = False
    tags: tuple[str, ...] = ()

    @property
    def cacheable(self) -> bool:
        return not self.dynamic and self.status == 200


class Renderer(Protocol):
    """A site: its settings, what it can prerender, and how it renders one variant.
    `declares_vary`: True when a page that depends on a request header says so in its
    answer (`dynamic`, or `Vary` through an adapter)."""

    @property
    def config(self) -> SiteConfig: ...

    @property
    def declares_vary(self) -> bool: ...

    async def site_routes(self) -> Sequence[SiteRoute]: ...

    async def render(self, request: RenderRequest) -> RenderResult: ...


class SiteStartupError(RuntimeError):
    """The site could not start (an ASGI app's lifespan startup failed or timed out):
    the build stops with this message; the Worker logs it and answers 500."""

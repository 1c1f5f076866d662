"""The contract between the seeding layer and a site's renderer.

The same renderer runs at build time (CPython, `scripts/prerender.py`) and at run
time (the Worker), so both produce byte-identical pages for the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from seeding.routes import Variant


class RenderMode(str, Enum):
    """How a route of the site is produced."""

    PRERENDER = "prerender"  # rendered at build time and seeded from assets
    ON_DEMAND = "on-demand"  # rendered on first request, then cached
    DYNAMIC = "dynamic"  # rendered for every request, never cached


@dataclass(frozen=True)
class SiteRoute:
    """A concrete route the site knows at build time."""

    pattern: str  # e.g. "/blog/[slug]"
    path: str  # route key, e.g. "/blog/hello-world"
    mode: RenderMode
    reason: str = ""  # why a route is not prerendered, for the manifest


@dataclass(frozen=True)
class RenderRequest:
    """What the renderer may know about the request. `now` is epoch seconds read
    inside the request (the Workers clock only moves on I/O).

    `headers` are the request's (lower-case names); empty at build time and for
    background regeneration. The cache is keyed by route alone, so a render that
    reads them in any way is treated as `dynamic` and never cached (as reading
    `headers()` makes a Next.js page dynamic).
    """

    route: str
    variant: Variant
    now: float
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    # "build" when prerendering, "request" at run time: pages may say how they
    # were made, which is how users and tests can tell a seed from a render.
    phase: str = "request"


@dataclass(frozen=True)
class RenderResult:
    """One rendered variant.

    `revalidate` is seconds until the page is stale, or None for never.
    `dynamic` pages are never cached, whatever `revalidate` says.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    revalidate: int | None = None
    dynamic: bool = False

    @property
    def cacheable(self) -> bool:
        return not self.dynamic and self.status == 200


class Renderer(Protocol):
    """A site: what it can prerender, and how it renders one variant of a route."""

    def site_routes(self) -> Sequence[SiteRoute]: ...

    async def render(self, request: RenderRequest) -> RenderResult: ...

"""The site's route table: every route it knows, how each is produced, and the
URL helpers the pages use to link to one another.

The table is built on first use from `app.content` (nothing runs at import time).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote

from app import blog
from app.config import SITE_CONFIG
from seeding.rendering import RenderMode, SiteRoute
from seeding.routes import DATA_SUFFIX, Variant, canonical_path

# Seconds after which a blog page is stale and re-rendered in the background.
BLOG_REVALIDATE = 60

# The ISR demo page: stale two seconds after it was made, then served stale once
# while it is regenerated in the background.
PULSE_REVALIDATE = 2
PULSE_REASON = "regenerated every 2 seconds: the ISR demo"

ON_DEMAND_REASON = "published after the build: rendered on first request"
DYNAMIC_REASON = "shows the request time"


class PageKind(str, Enum):
    HOME = "home"
    ABOUT = "about"
    BLOG = "blog"
    POST = "post"
    TAG = "tag"
    NOW = "now"
    PULSE = "pulse"
    NOT_FOUND = "not-found"


@dataclass(frozen=True)
class RouteSpec:
    """One concrete route: its site route, which page renders it, and its policy."""

    site_route: SiteRoute
    kind: PageKind
    param: str = ""  # the post slug or tag name, for parametrised patterns
    revalidate: int | None = None

    @property
    def dynamic(self) -> bool:
        return self.site_route.mode is RenderMode.DYNAMIC


def post_path(slug: str) -> str:
    return f"/blog/{slug}"


def tag_path(tag: str) -> str:
    return f"/tags/{tag}"


_URL_SAFE = "/-._~!$&'()*+,;=:@"


def href(route: str, variant: Variant = Variant.HTML) -> str:
    """The URL (percent-encoded) at which a route's variant is served, following the
    site's basePath and trailing-slash settings."""
    path = canonical_path(
        route,
        variant,
        base_path=SITE_CONFIG.base_path,
        trailing_slash=SITE_CONFIG.trailing_slash,
    )
    # errors="replace": an echoed malformed route (a lone surrogate) must not raise.
    return quote(path, safe=_URL_SAFE, errors="replace")


def content_href(target: str) -> str:
    """The URL of a link written in content: site-relative targets ("/now",
    "/blog/x#part", "/index.json") are mapped like `href`; others pass through."""
    if not target.startswith("/") or target.startswith("//"):
        return target
    path, hash_, fragment = target.partition("#")
    if path != "/" and path.endswith(DATA_SUFFIX):
        url = quote(SITE_CONFIG.base_path + path, safe=_URL_SAFE, errors="replace")
    else:
        url = href(path.rstrip("/") or "/")
    return url + hash_ + fragment


def _spec(
    pattern: str,
    path: str,
    kind: PageKind,
    mode: RenderMode = RenderMode.PRERENDER,
    *,
    param: str = "",
    revalidate: int | None = None,
    reason: str = "",
) -> RouteSpec:
    site_route = SiteRoute(pattern, path, mode, reason, variants=(Variant.HTML, Variant.DATA))
    return RouteSpec(site_route, kind, param, revalidate)


@functools.cache
def route_table() -> dict[str, RouteSpec]:
    specs = [
        _spec("/", "/", PageKind.HOME),
        _spec("/about", "/about", PageKind.ABOUT),
        _spec("/blog", "/blog", PageKind.BLOG, revalidate=BLOG_REVALIDATE),
    ]
    for post in blog.all_posts():
        if post.prerender:
            mode, reason = RenderMode.PRERENDER, ""
        else:
            mode, reason = RenderMode.ON_DEMAND, ON_DEMAND_REASON
        specs.append(
            _spec(
                "/blog/[slug]",
                post_path(post.slug),
                PageKind.POST,
                mode,
                param=post.slug,
                revalidate=BLOG_REVALIDATE,
                reason=reason,
            )
        )
    for tag, _count in blog.tags():
        specs.append(
            _spec("/tags/[tag]", tag_path(tag), PageKind.TAG, param=tag, revalidate=BLOG_REVALIDATE)
        )
    specs.append(
        _spec(
            "/pulse",
            "/pulse",
            PageKind.PULSE,
            RenderMode.ON_DEMAND,
            revalidate=PULSE_REVALIDATE,
            reason=PULSE_REASON,
        )
    )
    specs.append(_spec("/now", "/now", PageKind.NOW, RenderMode.DYNAMIC, reason=DYNAMIC_REASON))
    return {spec.site_route.path: spec for spec in specs}


def site_routes() -> tuple[SiteRoute, ...]:
    return tuple(spec.site_route for spec in route_table().values())


def tags(spec: RouteSpec) -> tuple[str, ...]:
    """What a page shows, as tags for on-demand revalidation: every page that lists
    posts is tagged `posts` (a new or edited post changes it), a post page also
    `post:<slug>`, a tag page `tag:<name>`."""
    if spec.kind is PageKind.POST:
        return (f"post:{spec.param}", "posts")
    if spec.kind is PageKind.TAG:
        return (f"tag:{spec.param}", "posts")
    if spec.kind in (PageKind.HOME, PageKind.BLOG):
        return ("posts",)
    if spec.kind is PageKind.PULSE:
        return ("pulse",)
    return ()


def match(route: str) -> RouteSpec | None:
    if not isinstance(route, str):
        return None
    return route_table().get(route)

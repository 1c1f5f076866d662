"""The cache headers each kind of page answers with: the app's only contract with whatever
caches it.

The app never imports the caching layer in front of it. It says in plain HTTP how long a
page may be shared (`s-maxage`), how long a stale copy may still be served while a fresh
one is rendered (`stale-while-revalidate`), which pages must never be stored (`no-store`,
`private`), and what a page is made of (`Cache-Tag`, for revalidation by tag). A page that
sends no `Cache-Control` at all leaves the choice to the site's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

# No Cache-Control at all: the site's default decides (by default, cached until the next
# deploy). For pages that change only when the code does: home, about.
SITE_DEFAULT: Mapping[str, str] = MappingProxyType({})

# Posts, their index, tag pages and the JSON feed: fresh for a minute, then served stale
# for up to an hour while a new render runs.
POSTS_CACHE_CONTROL = "public, s-maxage=60, stale-while-revalidate=3600"

# A page made from an upstream API: refreshed often, and kept (stale) for ten minutes if
# the upstream is slow or down.
UPSTREAM_CACHE_CONTROL = "public, s-maxage=2, stale-while-revalidate=600"

# Rendered for every request and never stored: the answer depends on the moment.
NO_STORE = "no-store"

# Rendered for every request and never stored: the answer depends on the request itself.
PRIVATE_NO_STORE = "private, no-store"


def cached(cache_control: str, tags: Iterable[str] = ()) -> dict[str, str]:
    """Headers for a cacheable page: its `Cache-Control`, and a `Cache-Tag` when it has tags."""
    headers = {"Cache-Control": cache_control}
    tag_list = ", ".join(tags)
    if tag_list:
        headers["Cache-Tag"] = tag_list
    return headers


def never_stored(cache_control: str = NO_STORE) -> dict[str, str]:
    """Headers for a page that must be rendered for every request."""
    return {"Cache-Control": cache_control}

"""HTTP caching policy: which requests and responses may touch the shared cache,
and the headers a cached page is sent with (as Next.js sends them)."""

from __future__ import annotations

from collections.abc import Mapping

from seeding.cookies import cookie_names

ONE_YEAR = 31536000
# How a response says where it came from, as Next.js says it: HIT, STALE or MISS.
CACHE_STATUS_HEADER = "x-cache-status"
NEXTJS_CACHE_HEADER = "x-nextjs-cache"
DYNAMIC_CACHE_CONTROL = "private, no-cache, no-store, max-age=0, must-revalidate"


def cache_control(revalidate: int | None, expire: int | None) -> str:
    """`s-maxage=R, stale-while-revalidate=E-R` for ISR pages, a year for pages that
    never revalidate."""
    if revalidate is None:
        return f"s-maxage={ONE_YEAR}"
    if expire is None:
        return f"s-maxage={revalidate}, stale-while-revalidate"
    return f"s-maxage={revalidate}, stale-while-revalidate={max(0, expire - revalidate)}"


def if_none_match_hits(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of `If-None-Match` against the current ETag."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    current = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == current for tag in header.split(","))


def is_private_request(headers: Mapping[str, str], session_cookies: frozenset[str]) -> bool:
    """A request that carries credentials must neither read nor write the shared
    cache: `Authorization`, a session cookie or a `__Host-` / `__Secure-` one, found
    whatever else the header holds (`seeding.cookies`), or a `Cookie` header that
    cannot be read at all."""
    if "authorization" in headers:
        return True
    header = headers.get("cookie")
    if header is None:
        return False
    names = cookie_names(header)
    if names is None:
        return True  # a header that cannot be read at all: be safe
    return bool(names & session_cookies) or any(
        n.startswith(("__Host-", "__Secure-")) for n in names
    )


def is_private_response(headers: Mapping[str, str]) -> bool:
    """A response the renderer marked private (`Cache-Control: private` or
    `no-store`) or that sets a cookie is never cached."""
    if "set-cookie" in headers:
        return True
    directives = {
        d.strip().split("=", 1)[0].lower() for d in headers.get("cache-control", "").split(",")
    }
    return bool(directives & {"private", "no-store"})

"""Cache metadata from an app's own HTTP answer, so an ASGI app needs no API of ours to
say how its pages are cached: it says it in HTTP, as it would to a CDN.

- `Cache-Control: s-maxage=N` (else `max-age=N`, what a shared cache falls back to):
  the page is stale after N seconds and regenerated (ISR); `stale-while-revalidate=M`:
  it may be served stale until N + M seconds (its expire time; without it, the site's
  `expire` applies). N = 0 means dynamic.
- dynamic (rendered per request, never stored): `no-store`, `no-cache` or `private`
  in Cache-Control, a `Set-Cookie`, or a `Vary` on any request header but
  `Accept-Encoding` (the cache is keyed by route alone). `Vary: Accept-Encoding` alone
  is storable: a stored page is rendered from the canonical request, which has no
  `Accept-Encoding`, so what is stored is the identity body every client accepts; a
  compressed body is never stored (`seeding.flow.storable`). Starlette's
  `GZipMiddleware` sends that `Vary` on every page it sees, compressed or not.
- no Cache-Control at all, or one with no lifetime: the site's default,
  `default_cache_control` (None: cached until the next deploy, as Next.js treats a
  page without `revalidate`).
- tags: the comma-separated `Cache-Tag` (Cloudflare's convention), kept when they
  follow the tag rules (`seeding.schema.tag_problem`), at most `MAX_TAGS`; the others
  are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from seeding.schema import MAX_TAGS, clean_tags, delta_seconds, tag_problem

DYNAMIC_DIRECTIVES = ("no-store", "no-cache", "private")
# What a stored page may vary on: see the module docstring.
STORABLE_VARY = frozenset({"accept-encoding"})


def varies_on(headers: Mapping[str, str]) -> list[str]:
    """The request headers named by the answer's `Vary` that keep it from being
    stored (as written, in order; `*` included): all but `STORABLE_VARY`."""
    named = (name.strip() for name in headers.get("vary", "").split(","))
    return [name for name in named if name and name.lower() not in STORABLE_VARY]


@dataclass(frozen=True)
class CachePolicy:
    revalidate: int | None = None
    expire: int | None = None
    dynamic: bool = False
    reason: str = ""  # why the page is dynamic, for the build's log


def _directives(value: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            out.setdefault(name.strip().lower(), argument.strip().strip('"') or None)
    return out


def cache_policy(headers: Mapping[str, str], default_cache_control: str | None) -> CachePolicy:
    """The policy of an answer with `headers` (lower-case names)."""
    if "set-cookie" in headers:
        return CachePolicy(dynamic=True, reason="it sets a cookie")
    varied = varies_on(headers)
    if varied:
        return CachePolicy(dynamic=True, reason=f"it varies on {', '.join(varied).lower()}")
    own = _directives(headers.get("cache-control", ""))
    for name in DYNAMIC_DIRECTIVES:
        if name in own:
            return CachePolicy(dynamic=True, reason=f"Cache-Control: {name}")
    default = _directives(default_cache_control or "")
    lifetime = own if ("s-maxage" in own or "max-age" in own) else default
    for name in DYNAMIC_DIRECTIVES:
        if name in lifetime:
            return CachePolicy(dynamic=True, reason=f"the site's default Cache-Control: {name}")
    revalidate = delta_seconds(lifetime.get("s-maxage")) if "s-maxage" in lifetime else None
    if revalidate is None:
        revalidate = delta_seconds(lifetime.get("max-age"))
    if revalidate == 0:
        return CachePolicy(dynamic=True, reason="its max-age is 0")
    swr = delta_seconds(lifetime.get("stale-while-revalidate"))
    expire = revalidate + swr if revalidate is not None and swr is not None else None
    return CachePolicy(revalidate=revalidate, expire=expire)


def cache_tags(value: str | None) -> tuple[str, ...]:
    """The tags of a `Cache-Tag` header that follow the tag rules, at most MAX_TAGS."""
    tags = [tag for tag in clean_tags(value) if tag_problem(tag) is None]
    return tuple(tags[:MAX_TAGS])

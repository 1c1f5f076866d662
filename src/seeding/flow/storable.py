"""The one decision "may this page be stored for everyone?", a pure function of what
is known about the page when it is about to be stored. Every path that stores a page
asks it through `seeding.flow.store.PageStore.admit`: a render on request, a
regeneration (its 404 too), a KV value decoded, a seeded record (which the Seeder
stores through the same function). A page it refuses is never served from the cache.

The rules, in the order they are asked (the first that applies is the answer):

- the request carried credentials (`Authorization`, a session cookie): its answer is
  that client's;
- the request had a query string: the cache is keyed by the route alone;
- the page is dynamic (the renderer said so, or it read the request's headers);
- the status: 200 from anywhere; 404 from a regeneration (the page is gone), a KV
  value or a seeded record (which hold such a 404), never from a render on request
  (a scan of unknown paths must not fill the cache); nothing else: redirects (their
  `Location` may follow the request), errors and partial answers are re-rendered;
- `Set-Cookie`: a cookie is one client's;
- `Cache-Control` with `private` or `no-store`;
- `Vary` on any request header but `Accept-Encoding`: the cache is keyed by the route
  alone, so a page that differs by a request header is dynamic
  (`seeding.cache_headers.varies_on`; a canonical render has no `Accept-Encoding`, so
  its identity body suits every client);
- `Content-Encoding` other than `identity`: a compressed body is never stored as the
  page (a client that did not ask for it could be served it); the flow treats such an
  answer as dynamic, it does not decode it;
- its size (body, headers, tags and bookkeeping, `CacheEntry.size`, plus the key)
  over the memory cache's whole budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from seeding.cache_headers import varies_on


class Source(str, Enum):
    """Where a page about to be stored comes from."""

    RENDER = "render"  # rendered for a request
    REGENERATION = "regeneration"  # rendered in the background, with no request
    SHARED = "shared"  # a KV value decoded
    SEED = "seed"  # a record of the prerendered build


class Rule(str, Enum):
    """The rule that refused a page."""

    CREDENTIALS = "credentials"
    QUERY = "query"
    DYNAMIC = "dynamic"
    STATUS = "status"
    COOKIE = "set-cookie"
    PRIVATE = "private"
    VARY = "vary"
    COMPRESSED = "compressed"
    SIZE = "size"

    @property
    def about_the_request(self) -> bool:
        """The page depends on the request: a client's own request is rendered again
        for that client alone (`seeding.flow.handler`)."""
        return self in PER_REQUEST_RULES


PER_REQUEST_RULES = frozenset({Rule.DYNAMIC, Rule.COOKIE, Rule.PRIVATE, Rule.VARY, Rule.COMPRESSED})

# Status -> the sources it may be stored from.
STORABLE_STATUSES: Mapping[int, frozenset[Source]] = {
    200: frozenset(Source),
    404: frozenset({Source.REGENERATION, Source.SHARED, Source.SEED}),
}


@dataclass(frozen=True)
class Refusal:
    rule: Rule
    reason: str  # for logs: what about the page the rule refused

    @property
    def for_size_alone(self) -> bool:
        """Refused only because it is over the memory budget: size is asked last, so
        every other rule allowed it, and a tier with room of its own (KV, within its
        value limit) may keep it for everyone."""
        return self.rule is Rule.SIZE

    def __str__(self) -> str:
        return self.reason


def _directives(value: str) -> set[str]:
    return {part.strip().split("=", 1)[0].strip().lower() for part in value.split(",")} - {""}


def refusal(
    *,
    source: Source,
    status: int,
    headers: Mapping[str, str],
    size: int,
    budget: int,
    dynamic: bool = False,
    credentials: bool = False,
    query: bool = False,
) -> Refusal | None:
    """Why a page with these traits may not be stored for everyone, or None when it
    may. `headers` are the page's (lower-case names); `size` counts the key too."""
    if credentials:
        return Refusal(Rule.CREDENTIALS, "the request carried credentials")
    if query:
        return Refusal(Rule.QUERY, "the request had a query string")
    if dynamic:
        return Refusal(Rule.DYNAMIC, "the page is dynamic")
    if source not in STORABLE_STATUSES.get(status, frozenset()):
        return Refusal(Rule.STATUS, f"HTTP {status} is not stored from a {source.value}")
    if "set-cookie" in headers:
        return Refusal(Rule.COOKIE, "it sets a cookie")
    private = _directives(headers.get("cache-control", "")) & {"private", "no-store"}
    if private:
        return Refusal(Rule.PRIVATE, f"Cache-Control: {', '.join(sorted(private))}")
    varied = varies_on(headers)
    if varied:
        return Refusal(Rule.VARY, f"it varies on {', '.join(varied)}")
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return Refusal(Rule.COMPRESSED, f"its body is compressed ({encoding})")
    if size > budget:
        return Refusal(Rule.SIZE, f"it is {size} bytes, over the memory cache's {budget}")
    return None

"""The isolate-global memory cache: an LRU map bounded by a byte budget.

Values are pure Python (bytes and strings), never JS objects, so the cache is safe to
hold in module state (and in a memory snapshot). Seeded entries and rendered entries
are the same type: a reader cannot tell, and need not.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from seeding.edge.headers import CACHE_TAG, EDGE_CACHE_CONTROL, EdgeView, edge_cache_control
from seeding.edge.tags import cache_tag_header, normalise_tag
from seeding.flow.policy import CACHE_STATUS_HEADER, NEXTJS_CACHE_HEADER, cache_control
from seeding.routes import Variant

# An isolate has 128 MB in all; Pyodide, the interpreter and the site's code take a
# good part of it, so the cache gets a quarter by default.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# Bookkeeping an entry costs beyond its body and headers (objects, dict slot, key).
ENTRY_OVERHEAD_BYTES = 256


def etag_for(body: bytes) -> str:
    """A strong ETag derived from the body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def cache_key(build_id: str, variant: Variant, route: str) -> str:
    """The key of one variant of a route. The build id is part of every key, so a
    new deploy can never be served an older build's page."""
    return f"{build_id}\x00{variant.value}\x00{route}"


def shown_key(key: str) -> str:
    """A cache key as logs show it (its parts separated by spaces)."""
    return key.replace("\x00", " ")


@dataclass(frozen=True)
class CacheEntry:
    """A response that can be served again.

    `generated_at` is epoch seconds (the build time for seeded pages); `revalidate`
    is seconds until stale (None: never stale, never expires); `expire` is seconds
    after which a revalidating entry must not be served at all (None: never); `tags`
    name the content it shows, for on-demand revalidation (kept normalised:
    `seeding.edge.tags.normalise_tag`).
    """

    body: bytes
    status: int
    headers: Mapping[str, str]
    generated_at: float
    revalidate: int | None = None
    expire: int | None = None
    tags: tuple[str, ...] = ()
    size: int = field(init=False, compare=False)
    # The ETag, computed once, when first needed (`etag`): a seed stores every variant
    # of a route, and most of them are never asked for.
    _etag: str = field(init=False, compare=False, repr=False, default="")
    _served: dict[str, Mapping[str, str]] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )
    # Per status label: the edge directive last sent and the headers made with it.
    _edge_served: dict[str, tuple[str, Mapping[str, str]]] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )
    _cache_tag: str = field(init=False, compare=False, repr=False, default="")

    def __post_init__(self) -> None:
        # One spelling per tag (lower case), as D1 records and the edge matches them.
        object.__setattr__(self, "tags", tuple(dict.fromkeys(map(normalise_tag, self.tags))))
        header_bytes = sum(len(k) + len(v) for k, v in self.headers.items())
        header_bytes += sum(len(tag) for tag in self.tags)
        object.__setattr__(self, "size", len(self.body) + header_bytes + ENTRY_OVERHEAD_BYTES)

    @property
    def etag(self) -> str:
        """The page's own ETag, else one derived from the body (`etag_for`)."""
        if not self._etag:
            object.__setattr__(self, "_etag", self.headers.get("etag") or etag_for(self.body))
        return self._etag

    def served_headers(self, status_label: str, edge: EdgeView | None = None) -> Mapping[str, str]:
        """The headers the entry is served with (its own, Cache-Control from its times,
        its ETag, the cache status as `x-cache-status` and `x-nextjs-cache`), made once
        per status label and shared by every answer, read-only.

        With `edge` (the edge tier is in front), also the edge's directive, which
        counts down with the page's age (`seeding.edge.headers`), and its `Cache-Tag`
        (`seeding.edge.tags`, made once per entry: an entry is stored under one route
        and build). The mapping is reused while the directive is unchanged, so a hot
        page makes a new one at most once a second."""
        served = self._served.get(status_label)
        if served is None:
            headers = dict(self.headers)
            headers["cache-control"] = cache_control(self.revalidate, self.expire)
            headers["etag"] = self.etag
            headers[CACHE_STATUS_HEADER] = status_label
            headers[NEXTJS_CACHE_HEADER] = status_label
            served = self._served[status_label] = MappingProxyType(headers)
        if edge is None:
            return served
        stale = status_label == "STALE" or not edge.current
        directive = edge_cache_control(
            self.revalidate, self.expire, self.age(edge.now), stale=stale
        )
        known = self._edge_served.get(status_label)
        if known is not None and known[0] == directive:
            return known[1]
        if not self._cache_tag:
            tag_value = cache_tag_header(self.tags, edge.route, edge.build_id)
            object.__setattr__(self, "_cache_tag", tag_value)
        headers = dict(served)
        headers[EDGE_CACHE_CONTROL] = directive
        headers[CACHE_TAG] = self._cache_tag
        edged = MappingProxyType(headers)
        self._edge_served[status_label] = (directive, edged)
        return edged

    def age(self, now: float) -> float:
        return max(0.0, now - self.generated_at)

    def is_stale(self, now: float) -> bool:
        return self.revalidate is not None and self.age(now) >= self.revalidate

    def is_expired(self, now: float) -> bool:
        # As in Next.js, only pages that revalidate expire; the others never go stale.
        return (
            self.revalidate is not None and self.expire is not None and self.age(now) >= self.expire
        )


@dataclass
class CacheStats:
    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    rejected: int = 0  # entries larger than the whole budget


class MemoryCache:
    """LRU cache bounded by `max_bytes` (keys and entries counted by `CacheEntry.size`).

    `set` evicts least recently used entries until the new one fits, so the total
    never exceeds the budget; an entry larger than the budget is not stored.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    @property
    def bytes_used(self) -> int:
        return self.stats.bytes

    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, marked most recently used; None if absent."""
        entry = self._entries.get(key)
        if entry is None:
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry

    def peek(self, key: str) -> CacheEntry | None:
        """The entry for `key` without touching recency or statistics."""
        return self._entries.get(key)

    def set(self, key: str, entry: CacheEntry) -> bool:
        """Store `entry` under `key`; False if it is larger than the whole budget."""
        size = entry.size + len(key)
        if size > self.max_bytes:
            self.stats.rejected += 1
            return False
        self.delete(key)
        while self._entries and self.stats.bytes + size > self.max_bytes:
            old_key, old = self._entries.popitem(last=False)
            self.stats.bytes -= old.size + len(old_key)
            self.stats.evictions += 1
        self._entries[key] = entry
        self.stats.bytes += size
        self.stats.entries = len(self._entries)
        return True

    def delete(self, key: str) -> bool:
        old = self._entries.pop(key, None)
        if old is None:
            return False
        self.stats.bytes -= old.size + len(key)
        self.stats.entries = len(self._entries)
        return True

    def clear(self) -> None:
        self._entries.clear()
        self.stats.bytes = 0
        self.stats.entries = 0

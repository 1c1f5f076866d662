"""A bounded map whose items expire: what an isolate remembers for a while (a KV miss, a
lease answer, a route its pack does not list) without growing with the traffic.

`ExpiringMap(maxsize)` holds at most `maxsize` items, each with its own expiry time, in
the manner of cachetools' `TLRUCache`, but time is an argument (`now`) rather than a
timer: inside a Worker the clock moves only on I/O, so the core reads it once per request
and passes it on. An item is live while `now < expires_at` and reads as absent from
then on (it is dropped when met); `math.inf` never expires, and an item set already
expired is not stored (the key is forgotten). Setting a key replaces its value and
expiry and makes it the newest. When the map is full, a new key first drops the expired
items at the old end, then evicts the oldest set. No I/O, no logging; every operation
but `expire` is O(1) amortized.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_MISSING = object()


class ExpiringMap(Generic[K, V]):
    __slots__ = ("_items", "_maxsize")

    def __init__(self, maxsize: int) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"ExpiringMap needs a positive integer maxsize, got {maxsize!r}")
        self._maxsize = maxsize
        self._items: OrderedDict[K, tuple[V, float]] = OrderedDict()

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def __len__(self) -> int:
        """Items held, expired ones included until they are met or `expire` runs."""
        return len(self._items)

    @overload
    def get(self, key: K, now: float) -> V | None: ...

    @overload
    def get(self, key: K, now: float, default: D) -> V | D: ...

    def get(self, key: K, now: float, default: object = None) -> object:
        """The live value of `key` at `now`, or `default`."""
        item = self._items.get(key)
        if item is None:
            return default
        if now >= item[1]:
            del self._items[key]
            return default
        return item[0]

    def contains(self, key: K, now: float) -> bool:
        return self.get(key, now, _MISSING) is not _MISSING

    def expires_at(self, key: K, now: float) -> float | None:
        """When the live item of `key` expires; None when there is none."""
        return self._items[key][1] if self.contains(key, now) else None

    def set(self, key: K, value: V, *, expires_at: float, now: float) -> None:
        """Hold `value` for `key` until `expires_at`, as the newest item."""
        if math.isnan(expires_at):
            raise ValueError(f"expiry of {key!r} is NaN: an item must expire at a time or never")
        self._items.pop(key, None)
        if expires_at <= now:
            return
        items = self._items
        while items:
            oldest = next(iter(items.values()))
            if now < oldest[1]:
                break
            items.popitem(last=False)
        while len(items) >= self._maxsize:
            items.popitem(last=False)
        items[key] = (value, expires_at)

    @overload
    def pop(self, key: K, now: float) -> V | None: ...

    @overload
    def pop(self, key: K, now: float, default: D) -> V | D: ...

    def pop(self, key: K, now: float, default: object = None) -> object:
        """Forget `key`; its value if it was live at `now`, else `default`."""
        item = self._items.pop(key, None)
        if item is None or now >= item[1]:
            return default
        return item[0]

    def discard(self, key: K) -> None:
        """Forget `key`, live or not."""
        self._items.pop(key, None)

    def expire(self, now: float) -> int:
        """Drop every item expired at `now` (O(n)); how many were dropped."""
        dead = [key for key, (_, expires_at) in self._items.items() if now >= expires_at]
        for key in dead:
            del self._items[key]
        return len(dead)

    def clear(self) -> None:
        self._items.clear()

"""A bounded set of keys, each remembered until a time: what the flow remembers about
a route for a while (it renders per request, or is too large to store). Past its time
a key is forgotten; past `max_keys` the least recently remembered is forgotten first,
so a scan of unique paths cannot grow it.
"""

from __future__ import annotations

from collections import OrderedDict


class ExpiringKeys:
    def __init__(self, max_keys: int = 4096) -> None:
        if max_keys <= 0:
            raise ValueError(f"max_keys must be positive, got {max_keys}")
        self.max_keys = max_keys
        self._until: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def remember(self, key: str, until: float) -> None:
        self._until[key] = until
        self._until.move_to_end(key)
        while len(self._until) > self.max_keys:
            self._until.popitem(last=False)

    def holds(self, key: str, now: float) -> bool:
        """Whether `key` is remembered at `now` (a key past its time is dropped)."""
        until = self._until.get(key)
        if until is None:
            return False
        if now < until:
            return True
        del self._until[key]
        return False

    def forget(self, key: str) -> None:
        self._until.pop(key, None)

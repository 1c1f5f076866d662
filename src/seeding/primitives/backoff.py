"""How the core treats a binding that fails: back off, and say so rarely.

`Backoff` spaces calls to a failing store: after a failure no call is made for `first`
seconds, each further consecutive failure doubles the pause up to `cap`, and a success
clears it. A store that is down then costs a request nothing (the caller takes its
fallback at once) and costs the store one probe per pause. `LogThrottle` lets one line
per topic through every `interval` seconds and counts what it held back, so an outage
logs a line a minute, not one per request. Both take time from the caller (`now`), as
the rest of the core does: inside a Worker the clock only moves on I/O.
"""

from __future__ import annotations

import logging

log = logging.getLogger("seeding")


class Backoff:
    def __init__(self, first: float = 5.0, cap: float = 60.0) -> None:
        if first <= 0 or cap < first:
            raise ValueError(f"back-off needs 0 < first <= cap, got first={first}, cap={cap}")
        self._first = first
        self._cap = cap
        self._until = float("-inf")
        self.failures = 0  # consecutive

    @property
    def until(self) -> float:
        """When the current pause ends (-inf: none)."""
        return self._until

    def blocked(self, now: float) -> bool:
        """True while no call should be made."""
        return now < self._until

    def failed(self, now: float) -> float:
        """Record a failure at `now`; the pause that starts, in seconds."""
        self.failures += 1
        pause = min(self._cap, self._first * 2.0 ** (self.failures - 1))
        self._until = now + pause
        return pause

    def succeeded(self) -> None:
        self.failures = 0
        self._until = float("-inf")


class LogThrottle:
    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, topic: str, now: float, message: str) -> bool:
        """Log `message` unless `topic` logged less than `interval` seconds ago;
        True when it was logged."""
        if now < self._next.get(topic, float("-inf")):
            self._held[topic] = self._held.get(topic, 0) + 1
            return False
        held = self._held.pop(topic, 0)
        suffix = f" ({held} more like it since the last line)" if held else ""
        log.warning("seeding: %s%s", message, suffix)
        self._next[topic] = now + self._interval
        return True

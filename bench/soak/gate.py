"""Hands request numbers to the soak's load threads, closing at each isolate boundary so
the coordinator restarts the isolate with nothing in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence


class Gate:
    """Hands request numbers to the load threads. It closes itself at each epoch
    boundary so the coordinator can restart the isolate with nothing in flight, and
    stops at `total` or at the deadline."""

    def __init__(self, total: int, boundaries: Sequence[int], deadline: float) -> None:
        self._cond = threading.Condition()
        self._next = 0
        self._total = total
        self._boundaries = sorted(b for b in boundaries if 0 < b < total)
        self._deadline = deadline
        self._inflight = 0
        self._closed = False
        self.generation = 0
        self.stopped = False

    def acquire(self) -> tuple[int, int] | None:
        """(request number, generation), or None when the run is over."""
        with self._cond:
            while True:
                if self.stopped or self._next >= self._total:
                    return None
                if time.monotonic() > self._deadline:
                    self.stopped = True
                    self._cond.notify_all()
                    return None
                if not self._closed:
                    if self._boundaries and self._next >= self._boundaries[0]:
                        self._closed = True
                        self._cond.notify_all()
                        continue
                    number = self._next
                    self._next += 1
                    self._inflight += 1
                    return number, self.generation
                self._cond.wait(0.25)

    def release(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def wait_quiet(self) -> str:
        """Block until nothing is in flight and either a boundary closed the gate
        ("boundary") or no request is left to send ("end")."""
        with self._cond:
            while True:
                over = self.stopped or self._next >= self._total
                if self._inflight == 0 and over:
                    return "end"
                if self._inflight == 0 and self._closed:
                    return "boundary"
                if time.monotonic() > self._deadline and not self.stopped:
                    self.stopped = True
                    self._cond.notify_all()
                self._cond.wait(0.25)

    def reopen(self) -> None:
        with self._cond:
            self._boundaries.pop(0)
            self.generation += 1
            self._closed = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()

    @property
    def sent(self) -> int:
        return self._next

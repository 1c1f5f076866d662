"""Bounded HTTP load over loopback: `run_load` (keep-alive connections from threads, a
request count and a time limit) and `concurrent_gets` (requests released together by a
barrier). Latency is measured per request, from sending it to reading the whole body.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    cache_statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run_load(
    base_url: str,
    paths: Sequence[str],
    *,
    concurrency: int,
    total: int | None = None,
    max_seconds: float | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 0,
) -> LoadResult:
    """Send `total` requests (default: one per path, in order; paths repeat when `total`
    is larger) from `concurrency` threads, each on its own keep-alive connection over
    loopback. Stops early after `max_seconds`. Latency is measured per request, from
    sending it to reading the whole body."""
    total = len(paths) if total is None else total
    if concurrency < 1 or total < 0 or not paths:
        raise ValueError("need concurrency >= 1, total >= 0 and at least one path")
    parts = urlsplit(base_url)
    counter = itertools.count()
    lock = threading.Lock()
    result = LoadResult()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        cache: Counter[str] = Counter()
        errors = 0
        try:
            while True:
                n = next(counter)
                if n >= total or (deadline is not None and time.monotonic() > deadline):
                    break
                path = paths[n % len(paths)]
                started = time.perf_counter()
                response = None
                # A keep-alive connection the server closed fails on reuse: retry once on a
                # fresh one (as HTTP clients do); a second failure is an error.
                for _attempt in range(2):
                    try:
                        conn.request("GET", path)
                        response = conn.getresponse()
                        response.read()
                        break
                    except (OSError, http.client.HTTPException):
                        response = None
                        conn.close()
                        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                if response is None:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status] += 1
                cache[response.getheader("x-cache-status") or "-"] += 1
                if progress_every and on_progress and (n + 1) % progress_every == 0:
                    on_progress(n + 1)
        finally:
            conn.close()
            with lock:
                result.latencies_ms.extend(latencies)
                result.statuses.update(statuses)
                result.cache_statuses.update(cache)
                result.errors += errors

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed_s = time.monotonic() - started
    return result


def concurrent_gets(base_url: str, path: str, count: int, timeout: float = 120) -> list[int]:
    """`count` GETs of `path` released together (a barrier), each on its own connection;
    their statuses (0 for a failed request)."""
    barrier = threading.Barrier(count)
    statuses = [0] * count

    def one(i: int) -> None:
        parts = urlsplit(base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.connect()
            barrier.wait(timeout)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            statuses[i] = response.status
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError):
            statuses[i] = 0
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses

"""Entropy budgets for imports, as the SDK's patches ask for them.

In production, Python's top-level scope runs while a memory snapshot is taken, where randomness
is forbidden: `allow_bad_entropy_calls(n)` lets exactly n `getentropy()` calls through while a
package that needs them (a Rust hash-map seed, pydantic-core) is imported, and fails when fewer
were made. The local runtime loads Python inside a request and takes no snapshot, so randomness
is always available and there is nothing to count: the budget is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def allow_bad_entropy_calls(n: int) -> Iterator[None]:
    """Production: allow exactly `n` entropy calls inside the block. Here: run the block."""
    yield

"""Reading prerendered files through the asset layer, and what a failure means.

The core sees the `ASSETS` binding only through `AssetFetcher`, so CPython tests use a
fake; `entry.py` adapts the real binding. A failure is either transient (retry on a
later request) or permanent (remember for the isolate: the same request to the same
deploy gives the same answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class AssetResponse:
    status: int
    body: bytes


class AssetFetcher(Protocol):
    """Fetches one file of the static assets by URL path ("/__prerender/...").

    May raise for a transport failure or a body that fails to read; must not raise
    for an HTTP error status (a 404 is an answer, not an exception).
    """

    async def fetch(self, path: str) -> AssetResponse: ...


class Failure(str, Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class AssetResult:
    """The outcome of one asset read: a body, or a classified failure with a reason."""

    body: bytes | None = None
    failure: Failure | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


def classify_status(status: int) -> Failure | None:
    """None for success; 5xx and 429 are transient; any other status is permanent
    (404: not in this deploy; 3xx: the asset settings rewrite the path)."""
    if 200 <= status < 300:
        return None
    if status >= 500 or status == 429:
        return Failure.TRANSIENT
    return Failure.PERMANENT


async def read_asset(fetcher: AssetFetcher, path: str) -> AssetResult:
    """Fetch `path` and classify the outcome. Never raises (but for cancellation)."""
    try:
        response = await fetcher.fetch(path)
    except Exception as exc:
        return AssetResult(failure=Failure.TRANSIENT, reason=f"{path}: fetch raised {exc!r}")
    failure = classify_status(response.status)
    if failure is not None:
        hint = ' (check [assets] html_handling = "none")' if 300 <= response.status < 400 else ""
        return AssetResult(failure=failure, reason=f"{path}: HTTP {response.status}{hint}")
    return AssetResult(body=response.body)

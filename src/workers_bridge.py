"""The edge between the Workers runtime and the plain-Python core: the `ASSETS`
binding as an `AssetFetcher`, and request/response conversion. The only module
besides entry.py that touches the Workers SDK."""

from __future__ import annotations

from typing import Any

from workers import Response as WorkersResponse

from seeding.assets import AssetResponse
from seeding.http import LazyHeaders, Request, Response

# The binding ignores the host; any absolute URL will do.
ASSETS_ORIGIN = "https://assets.invalid"


class AssetsBinding:
    """`env.ASSETS` seen as an `AssetFetcher`."""

    def __init__(self, binding: Any) -> None:
        self._binding = binding

    async def fetch(self, path: str) -> AssetResponse:
        response = await self._binding.fetch(ASSETS_ORIGIN + path)
        status = int(response.status)
        # A body that fails to read raises here: a transient failure to the caller.
        body = await response.bytes() if 200 <= status < 300 else b""
        return AssetResponse(status=status, body=body)


def to_plain_request(request: Any) -> Request:
    js_request = request.js_object
    return Request(
        method=str(js_request.method),
        url=str(js_request.url),
        headers=LazyHeaders(js_request.headers),
    )


def to_workers_response(response: Response) -> WorkersResponse:
    # 304 and HEAD answers must have a null body, not an empty one.
    body = response.body if response.body else None
    return WorkersResponse(body, status=response.status, headers=response.headers)

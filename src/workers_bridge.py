"""The edge between the Workers runtime and the plain-Python core: the `ASSETS`
binding as an `AssetFetcher`, and request/response conversion. The only module
besides entry.py that touches the Workers SDK."""

from __future__ import annotations

from typing import Any

import js
from pyodide.ffi import to_js

from seeding.assets import AssetResponse
from seeding.http import LazyHeaders, Request, Response

# The binding ignores the host; any absolute URL will do.
ASSETS_ORIGIN = "https://assets.invalid"


class AssetsBinding:
    """`env.ASSETS` seen as an `AssetFetcher`. The binding is read from `env` at the
    first fetch, not per request: a cached page never fetches, and each read goes
    through the SDK's env wrapper (a fresh one per request, with its type checks
    across the JS boundary): ~0.1 ms of CPU a request under load."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self._binding: Any = None

    async def fetch(self, path: str) -> AssetResponse:
        if self._binding is None:
            self._binding = self._env.ASSETS
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


# Looked up once: each attribute read on `js` is a crossing into JavaScript.
_JS_RESPONSE = js.Response
_OBJECT_FROM_ENTRIES = js.Object.fromEntries


def to_js_response(response: Response) -> Any:
    """A JS `Response`, made with two conversions (body, then status and headers in one
    init object) instead of the SDK's `Response(...)`, which hands the headers to JS
    as a Python iterable that `Headers` walks one crossing per item: on a cached page
    that was most of the Python time (117 us of ~150 in the isolate; now 41 us).
    The entrypoint may return a JS Response as it is."""
    init = to_js(
        {"status": response.status, "headers": list(response.headers.items())},
        dict_converter=_OBJECT_FROM_ENTRIES,
    )
    # 304 and HEAD answers must have a null body, not an empty one. The JS body is a
    # copy (Response copies it again), never a view of Python memory that could move.
    body = to_js(response.body) if response.body else None
    return _JS_RESPONSE.new(body, init)

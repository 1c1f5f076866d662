"""Outbound HTTP: GET a JSON document from an upstream API, on CPython and inside a Worker.

The same app renders at build time under CPython and at run time inside a Python Worker
(Pyodide), and the two have different HTTP clients:

- in a Worker (`sys.platform == "emscripten"`) there are no sockets and no threads, and
  `urllib` has nothing to send through; outbound requests go through the platform's
  `fetch`, imported from the Workers SDK only there;
- under CPython, `urllib.request` is blocking, so it runs in `asyncio.to_thread` to keep
  the event loop free for other requests.

`get_json` hides that choice. It returns the parsed JSON, or raises `UpstreamError` for
every way the upstream can fail (an exception, a status outside 2xx, a body that is not
JSON), so a caller has one failure to handle.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

REQUEST_HEADERS = {"Accept": "application/json", "User-Agent": "edge-notes-example"}
CPYTHON_TIMEOUT_SECONDS = 10.0


class UpstreamError(Exception):
    """The upstream could not be read, or answered something unusable."""


async def get_json(url: str) -> Any:
    try:
        if sys.platform == "emscripten":
            status, body = await _get_in_worker(url)
        else:
            status, body = await asyncio.to_thread(_get_with_urllib, url)
    except Exception as exc:
        raise UpstreamError(f"GET {url} failed: {exc!r}") from exc
    if not 200 <= status < 300:
        raise UpstreamError(f"GET {url} answered HTTP {status}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UpstreamError(f"GET {url} answered a body that is not JSON: {exc}") from exc


async def _get_in_worker(url: str) -> tuple[int, str]:
    from workers import fetch  # only in a Worker: the SDK needs Pyodide's `js` module

    response = await fetch(url, headers=REQUEST_HEADERS)
    return response.status, await response.text()


def _get_with_urllib(url: str) -> tuple[int, bytes]:
    import urllib.error  # only under CPython: a Worker has no sockets for it
    import urllib.request

    request = urllib.request.Request(url, headers=REQUEST_HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=CPYTHON_TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:  # a status >= 400 is an answer, not a crash
        error.close()
        return error.code, b""

"""The single-manifest layout's reader (vinext's way): the baseline of benchmark c.

The whole build's manifest (`meta/manifest.json`, every route's record) is fetched and
parsed once per isolate; then each route's HTML body is one more fetch of its own file.
So the first request of an isolate costs the manifest, whose size grows with the site.
Plain Python with no Workers import: the baseline Worker (`manifest_worker.py`) and the
CPython estimate (`manifest_layout.cold_seed`) run this same code.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

MANIFEST_PATH = "/__prerender/meta/manifest.json"
PRERENDER_PREFIX = "/__prerender/"

# (status, body) of one asset fetch.
Fetch = Callable[[str], Awaitable[tuple[int, bytes]]]
Page = tuple[bytes, dict[str, str]]


class ManifestReader:
    def __init__(self) -> None:
        self.index: dict[str, dict[str, object]] | None = None
        self.pages: dict[str, Page] = {}
        self.fetches = 0
        self.bytes_fetched = 0

    async def _fetch(self, fetch: Fetch, path: str) -> tuple[int, bytes]:
        status, body = await fetch(path)
        self.fetches += 1
        self.bytes_fetched += len(body)
        return status, body

    async def page(self, fetch: Fetch, route: str) -> Page | None:
        """The HTML body and headers of `route`, or None when the build does not list it."""
        if route in self.pages:
            return self.pages[route]
        if self.index is None:
            status, raw = await self._fetch(fetch, MANIFEST_PATH)
            if status != 200:
                return None
            document = json.loads(raw)
            self.index = {
                path: record["variants"]["html"]
                for path, record in document["routes"].items()
                if record.get("status", "rendered") == "rendered"
                and "html" in record.get("variants", {})
            }
        where = self.index.get(route)
        if where is None:
            return None
        status, body = await self._fetch(fetch, PRERENDER_PREFIX + str(where["file"]))
        if status != 200:
            return None
        headers = where.get("headers")
        page = (body, dict(headers) if isinstance(headers, dict) else {})
        self.pages[route] = page
        return page

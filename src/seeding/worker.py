"""The Worker's entrypoint for a site, and the bridge between the Workers runtime and the
plain-Python core: the only module of the package that touches `js`, `pyodide` or the
`workers` SDK. A Worker's `entry.py` is then a few lines:

    from seeding.worker import entrypoint
    from app import SITE

    Default = entrypoint(SITE)

`entrypoint` reads the prerendered build's identity when the entry module is imported
(free under memory snapshots), and makes the isolate's handler on the first request:
the settings come from wrangler `[vars]` (`seeding.config.settings_from_vars`, whose
errors are logged here, once, and never stop the Worker), and the handler, with its
memory cache, lives as long as the isolate (`Default.isolate`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import js
from pyodide.ffi import to_js
from workers import WorkerEntrypoint

from seeding.assets import AssetResponse
from seeding.build_identity import BUILD_MODULE, load_identity
from seeding.config import settings_from_vars
from seeding.handler import CACHED_METHODS, Bindings, SiteHandler, create_handler
from seeding.http import LazyHeaders, Request, Response
from seeding.rendering import Renderer

log = logging.getLogger("seeding")

# The binding ignores the host; any absolute URL will do.
ASSETS_ORIGIN = "https://assets.invalid"


class Isolate:
    """The isolate-global state behind an entrypoint: its handler, made once."""

    def __init__(self, site: Renderer, build_module: str) -> None:
        self.site = site
        self.build = load_identity(site.config, build_module)
        self.handler: SiteHandler | None = None

    def handler_for(self, env: Any) -> SiteHandler:
        if self.handler is None:
            settings, errors = settings_from_vars(lambda name: getattr(env, name, None))
            for error in errors:
                log.error("seeding: %s", error)
            self.handler = create_handler(
                self.site, max_bytes=settings.cache_max_bytes, clock=time.time, build=self.build
            )
        return self.handler


def entrypoint(site: Renderer, *, build_module: str = BUILD_MODULE) -> type[WorkerEntrypoint]:
    """The `Default` entrypoint class serving `site` behind the seeding layer."""
    isolate = Isolate(site, build_module)

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Any) -> Any:
            handler = isolate.handler_for(self.env)
            ctx = self.ctx
            response = await handler.handle(
                await to_plain_request(request),
                # Bindings are looked up only when used: a cached page needs neither.
                Bindings(AssetsBinding(self.env), lambda job: ctx.waitUntil(job), self.env),
            )
            return to_js_response(response)

    Default.isolate = isolate  # type: ignore[attr-defined]
    return Default


class AssetsBinding:
    """`env.ASSETS` seen as an `AssetFetcher`. The binding is read from `env` at the
    first fetch, not per request: a cached page never fetches, and each read goes
    through the SDK's env wrapper (a fresh one per request, with its type checks
    across the JS boundary)."""

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


async def to_plain_request(request: Any) -> Request:
    js_request = request.js_object
    method = str(js_request.method)
    body = b""
    if method.upper() not in CACHED_METHODS:
        body = (await js_request.arrayBuffer()).to_bytes()
    return Request(
        method=method, url=str(js_request.url), headers=LazyHeaders(js_request.headers), body=body
    )


# Looked up once: each attribute read on `js` is a crossing into JavaScript.
_JS_RESPONSE = js.Response
_OBJECT_FROM_ENTRIES = js.Object.fromEntries


def to_js_response(response: Response) -> Any:
    """A JS `Response`, made with two conversions (body, then status and headers in one
    init object) instead of the SDK's `Response(...)`, which hands the headers to JS
    as a Python iterable that `Headers` walks one crossing per item. The entrypoint
    may return a JS Response as it is."""
    init = to_js(
        {"status": response.status, "headers": list(response.headers.items())},
        dict_converter=_OBJECT_FROM_ENTRIES,
    )
    # 304 and HEAD answers must have a null body, not an empty one. The JS body is a
    # copy (Response copies it again), never a view of Python memory that could move.
    body = to_js(response.body) if response.body else None
    return _JS_RESPONSE.new(body, init)

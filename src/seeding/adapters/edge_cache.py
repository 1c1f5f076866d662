"""`ctx.cache` (Workers Cache's purge API) as the core's `EdgeCache`.

`ctx.cache.purge(options)` and `ctx.cache.invalidate(options)` take `{tags,
pathPrefixes, purgeEverything}` and resolve to `{success, errors}`; the adapter sends
only the options given and turns the result into a `PurgeResult` (each error as text:
`code: message` when it is an object). A throw is left to the caller
(`seeding.edge.purge.EdgePurger` logs and retries it).

`EdgeCacheFinder` decides once per isolate whether the runtime hands the Worker a
`ctx.cache` at all (Miniflare does not; the project's local runtime does when
`wrangler.toml` has `[cache] enabled = true`), so a request costs no crossing into JS
for it; the adapter reads `ctx.cache` only when a purge is sent.
"""

from __future__ import annotations

from typing import Any

import js
from pyodide.ffi import jsnull, to_js  # type: ignore[attr-defined]

from seeding.edge.purge import PurgeOptions, PurgeResult

_OBJECT_FROM_ENTRIES = js.Object.fromEntries


def _present(value: Any) -> bool:
    return value is not None and value is not jsnull


class CtxEdgeCache:
    """The `ctx.cache` of one request."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    async def purge(self, options: PurgeOptions) -> PurgeResult:
        return _result(await self._ctx.cache.purge(_js_options(options)))

    async def invalidate(self, options: PurgeOptions) -> PurgeResult:
        return _result(await self._ctx.cache.invalidate(_js_options(options)))


class EdgeCacheFinder:
    """Whether the isolate's requests have a `ctx.cache`, probed on the first one."""

    def __init__(self) -> None:
        self.present: bool | None = None

    def of(self, ctx: Any) -> CtxEdgeCache | None:
        if self.present is None:
            self.present = _present(getattr(ctx, "cache", None))
        return CtxEdgeCache(ctx) if self.present else None


def _js_options(options: PurgeOptions) -> Any:
    plain: dict[str, Any] = {}
    if options.purge_everything:
        plain["purgeEverything"] = True
    if options.tags:
        plain["tags"] = list(options.tags)
    if options.path_prefixes:
        plain["pathPrefixes"] = list(options.path_prefixes)
    return to_js(plain, dict_converter=_OBJECT_FROM_ENTRIES)


def _result(value: Any) -> PurgeResult:
    if not _present(value):
        return PurgeResult(False, ("ctx.cache answered nothing",))
    errors: Any = getattr(value, "errors", None)
    texts = tuple(_error_text(e) for e in errors) if _present(errors) else ()
    return PurgeResult(bool(getattr(value, "success", False)), texts)


def _error_text(error: Any) -> str:
    if isinstance(error, str):
        return error
    message = getattr(error, "message", None)
    code = getattr(error, "code", None)
    if _present(message):
        return f"{code}: {message}" if _present(code) else str(message)
    return str(error)

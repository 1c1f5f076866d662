"""The Worker's entrypoint for a site, and the bridge between the Workers runtime and the
plain-Python core: the only module of the package that touches `js`, `pyodide` or the
`workers` SDK. A Worker's `entry.py` is then a few lines:

    from seeding.worker import entrypoint
    from app import SITE

    Default = entrypoint(SITE)

`entrypoint` reads the prerendered build's identity when the entry module is imported
(free under memory snapshots), and makes the isolate's handler on the first request:
the settings come from wrangler `[vars]` and secrets (`seeding.config.settings_from_vars`,
whose errors are logged here, once, and never stop the Worker); the shared tier is made
of the KV and D1 bindings the Worker has (`seeding.config.KV_BINDING`, `D1_BINDING`;
either may be absent); and the handler, with its memory cache, lives as long as the
isolate (`Default.isolate`). The adapters below turn those JS bindings into the core's
Protocols (`KeyValueNamespace`, `SqlDatabase`) and JS values into Python ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import js
from pyodide.ffi import jsnull, to_js  # type: ignore[attr-defined]  # jsnull: Pyodide >= 0.27
from workers import WorkerEntrypoint

from seeding.adapters.edge_cache import EdgeCacheFinder
from seeding.config import (
    D1_BINDING,
    KV_BINDING,
    VERSION_METADATA_BINDING,
    Settings,
    settings_from_vars,
)
from seeding.edge.deploys import BuildSweep
from seeding.flow.handler import CACHED_METHODS, Bindings, SiteHandler, create_handler
from seeding.flow.policy import DYNAMIC_CACHE_CONTROL
from seeding.front import Front, Revalidation
from seeding.http import BodyTooLarge, LazyHeaders, Request, Response, header_pairs
from seeding.rendering import Renderer
from seeding.seed.assets import AssetResponse
from seeding.seed.build_identity import BUILD_MODULE, load_identity
from seeding.shared.kv_pages import PageStore, code_identity, deploy_identity
from seeding.shared.regen_lease import RegenerationLease
from seeding.shared.sql_database import SqlRow, SqlValue
from seeding.shared.tag_clock import TagClock
from seeding.shared.tier import SharedTier, isolate_id

log = logging.getLogger("seeding")

# The binding ignores the host; any absolute URL will do.
ASSETS_ORIGIN = "https://assets.invalid"


class Isolate:
    """The isolate-global state behind an entrypoint, made once: the page flow
    (`handler`, with its memory cache) behind the front door (`front`)."""

    def __init__(self, site: Renderer, build_module: str) -> None:
        self.site = site
        self.build = load_identity(site.config, build_module)
        self.handler: SiteHandler | None = None
        self.front: Front | None = None
        self.edge = EdgeCacheFinder()
        self.sweep: BuildSweep | None = None  # with D1 and a build: see seeding.edge.deploys

    def front_for(self, env: Any) -> Front:
        if self.front is None:
            settings, errors = settings_from_vars(lambda name: getattr(env, name, None))
            for error in errors:
                log.error("seeding: %s", error)
            deploy_id = self.deploy_id(env, kv_bound=getattr(env, KV_BINDING, None) is not None)
            self.handler = create_handler(
                self.site,
                max_bytes=settings.cache_max_bytes,
                clock=time.time,
                build=self.build,
                shared=self.shared_tier(env, settings, deploy_id),
                origin=settings.site_origin,
                deploy_id=deploy_id,
            )
            self.front = Front(
                self.handler,
                Revalidation(settings.revalidate_path, settings.revalidate_secret),
                sweep=self.sweep,
            )
        return self.front

    def deploy_id(self, env: Any, *, kv_bound: bool) -> str:
        """What this deploy's page keys carry: the build's id and the Worker version's
        (`CF_VERSION_METADATA.id`), or a hash of the code when that binding is absent
        and KV, which outlives the deploy, is bound."""
        build_id = self.build.build_id if self.build is not None else None
        metadata = _python(getattr(env, VERSION_METADATA_BINDING, None))
        if isinstance(metadata, dict):
            version = metadata.get("id")
        else:
            version = _python(getattr(metadata, "id", None)) if metadata is not None else None
        if isinstance(version, str) and version:
            return deploy_identity(build_id, version)
        if not kv_bound:  # memory alone: it lives no longer than this deploy's isolate
            return deploy_identity(build_id, None)
        code = code_identity()
        log.warning(
            "seeding: no %s binding (wrangler.toml [version_metadata]); pages in KV are "
            "keyed by a hash of the code instead (%s)",
            VERSION_METADATA_BINDING,
            code,
        )
        return deploy_identity(build_id, code)

    def shared_tier(self, env: Any, settings: Settings, deploy_id: str) -> SharedTier:
        kv = getattr(env, KV_BINDING, None)
        db = getattr(env, D1_BINDING, None)
        sql = D1Binding(db) if db is not None else None
        if sql is not None and self.build is not None:
            # Keyed as the pages' build tag is: a new Worker version takes over too.
            self.sweep = BuildSweep(sql, deploy_id, time.time)
        since = self.build.built_at if self.build is not None else 0.0
        tier = SharedTier(
            PageStore(KvBinding(kv)) if kv is not None else None,
            TagClock(sql, max_age=settings.tag_cache_seconds, since=since) if sql else None,
            RegenerationLease(sql) if sql is not None else None,
            holder=isolate_id() if sql is not None else "",  # leases only: with D1
        )
        if tier.enabled:  # one line per isolate; none without the tier (a log line costs)
            log.info(
                "seeding: shared tier: KV %s, D1 %s",
                KV_BINDING if kv is not None else "not bound",
                D1_BINDING if db is not None else "not bound",
            )
        return tier


def entrypoint(site: Renderer, *, build_module: str = BUILD_MODULE) -> type[WorkerEntrypoint]:
    """The `Default` entrypoint class serving `site` behind the seeding layer."""
    isolate = Isolate(site, build_module)

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Any) -> Any:
            # Nothing between the platform and the handler, or between the handler and
            # the JS Response, may raise to the platform (its bare 500, no log line):
            # a failure here is the project's own logged 500.
            try:
                front = isolate.front_for(self.env)
                ctx = self.ctx
                edge = isolate.edge.of(ctx)  # ctx.cache, when the edge tier is in front
                bindings = Bindings(  # looked up only when used: a cached page needs none
                    AssetsBinding(self.env), lambda job: ctx.waitUntil(job), self.env, edge
                )
                response = await front.handle(to_plain_request(request), bindings)
                return to_js_response(response)
            except Exception:
                log.exception("seeding: the Worker failed outside the handler")
                return internal_error()

        async def scheduled(self, controller: Any, env: Any = None, ctx: Any = None) -> None:
            """A Cron Trigger (`[triggers] crons` in wrangler.toml): prune D1's expired
            lease rows and the revalidation marks this build cannot need
            (`SharedTier.prune`). Never raises; what it did is one log line."""
            front = isolate.front_for(env if env is not None else self.env)
            deleted = await front.pages.shared.prune(time.time())
            log.info(
                "seeding: cron %s pruned %d D1 rows", getattr(controller, "cron", "?"), deleted
            )

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


def _raw(binding: Any) -> Any:
    """The JS object behind the SDK's binding wrapper: the calls below convert their
    own arguments and results, once, instead of the wrapper's per-call walk."""
    return getattr(binding, "_binding", binding)


def _python(value: Any) -> Any:
    return None if value is None or value is jsnull else value


class KvBinding:
    """`env.PAGES` (Workers KV) as the core's `KeyValueNamespace`: values are bytes."""

    def __init__(self, binding: Any) -> None:
        self._kv = _raw(binding)

    async def get(self, key: str) -> bytes | None:
        value = _python(await self._kv.get(key, "arrayBuffer"))
        return None if value is None else bytes(value.to_bytes())

    async def put(self, key: str, value: bytes, *, expiration_ttl: int | None) -> None:
        options = {} if expiration_ttl is None else {"expirationTtl": expiration_ttl}
        await self._kv.put(key, to_js(value), to_js(options, dict_converter=_OBJECT_FROM_ENTRIES))


class D1Binding:
    """`env.CACHE_DB` (D1) as the core's `SqlDatabase`: `run` answers `meta.changes`,
    `all` the rows as dicts; JS null is None both ways."""

    def __init__(self, binding: Any) -> None:
        self._db = _raw(binding)

    def _statement(self, sql: str, params: Sequence[SqlValue]) -> Any:
        statement = self._db.prepare(sql)
        return (
            statement.bind(*(jsnull if p is None else p for p in params)) if params else statement
        )

    async def run(self, sql: str, params: Sequence[SqlValue]) -> int:
        result = await self._statement(sql, params).run()
        return int(result.meta.changes)

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        result = await self._statement(sql, params).all()
        return [
            {str(name): _python(value) for name, value in row.object_entries()}
            for row in result.results
        ]


def to_plain_request(request: Any) -> Request:
    """The SDK's request as the core's `Request`. The body is not read here: the
    handler reads it when it needs it, never past a limit (`JsBody`)."""
    js_request = request.js_object
    method = str(js_request.method)
    return Request(
        method=method,
        url=str(js_request.url),
        headers=LazyHeaders(js_request.headers),
        reader=JsBody(js_request).read if method.upper() not in CACHED_METHODS else None,
    )


class JsBody:
    """A JS request's body stream, read once, chunk by chunk, and given up (the stream
    cancelled) as soon as it passes the caller's limit: a client cannot make the
    Worker hold more than the limit in memory, whatever it sends or declares."""

    def __init__(self, js_request: Any) -> None:
        self._request = js_request
        self._body: bytes | None = None

    async def read(self, limit: int) -> bytes:
        if self._body is not None:
            if len(self._body) > limit:
                raise BodyTooLarge(limit)
            return self._body
        stream = _python(self._request.body)
        chunks: list[bytes] = []
        total = 0
        if stream is not None:
            reader = stream.getReader()
            while True:
                chunk = await reader.read()
                if chunk.done:
                    break
                data = bytes(chunk.value.to_bytes())
                total += len(data)
                if total > limit:
                    await reader.cancel()
                    raise BodyTooLarge(limit)
                chunks.append(data)
        self._body = b"".join(chunks)
        return self._body


# Looked up once: each attribute read on `js` is a crossing into JavaScript.
_JS_RESPONSE = js.Response
_OBJECT_FROM_ENTRIES = js.Object.fromEntries


# The JS init objects of read-only header sets answered lately: a cached page's headers
# are one shared read-only mapping per status label (`CacheEntry.served_headers`; with the
# edge in front, per label and second of its edge max-age), so its init object is made
# once, not on every hit; `Response` only reads it. Bounded, emptied
# when full; filled during requests only (never at import, so never in a memory snapshot).
_INITS: dict[tuple[int, int], tuple[object, Any]] = {}
MAX_INITS = 512


def _init(status: int, headers: Mapping[str, str]) -> Any:
    shared = isinstance(headers, MappingProxyType)
    key = (id(headers), status)
    known = _INITS.get(key) if shared else None
    if known is not None and known[0] is headers:
        return known[1]
    # One pair per value: a repeated Set-Cookie is appended once per cookie; a pair
    # the platform would reject is left out (and logged) rather than failing here.
    pairs = [[name, value] for name, value in header_pairs(headers)]
    fields: dict[str, Any] = {"status": status, "headers": pairs}
    if headers.get("content-encoding", "identity").strip().lower() != "identity":
        # The app's body is already encoded (GZipMiddleware): the runtime must send it
        # as it is, not encode it again for the Content-Encoding it names (the
        # platform's default, "automatic", expects an unencoded body).
        fields["encodeBody"] = "manual"
    init = to_js(fields, dict_converter=_OBJECT_FROM_ENTRIES)
    if shared:
        if len(_INITS) >= MAX_INITS:
            _INITS.clear()
        _INITS[key] = (headers, init)  # the mapping is kept alive: its id is not reused
    return init


def to_js_response(response: Response) -> Any:
    """A JS `Response`, made with two conversions (body, then status and headers in one
    init object) instead of the SDK's `Response(...)`, which hands the headers to JS
    as a Python iterable that `Headers` walks one crossing per item; the init object of
    a cached page is reused (`_INITS`). The entrypoint may return a JS Response as it
    is."""
    init = _init(response.status, response.headers)
    # 304 and HEAD answers must have a null body, not an empty one. The JS body is a
    # copy (Response copies it again), never a view of Python memory that could move.
    body = to_js(response.body) if response.body else None
    return _JS_RESPONSE.new(body, init)


def internal_error() -> Any:
    """The project's own 500, for a failure the handler could not answer."""
    return _JS_RESPONSE.new(
        "Internal Server Error",
        to_js(
            {
                "status": 500,
                "headers": [
                    ["content-type", "text/plain; charset=utf-8"],
                    ["cache-control", DYNAMIC_CACHE_CONTROL],
                ],
            },
            dict_converter=_OBJECT_FROM_ENTRIES,
        ),
    )

"""Any ASGI app (Starlette, FastAPI, ...) as a site: `AsgiSite` runs the app in-process,
with no socket, the same way at build time (CPython) and in the Worker (Pyodide).

    site = AsgiSite(app, prerender=["/", "/about"])      # or a callable, sync or async

- The app declares what to prerender: a list of URL paths, or a callable returning
  them (like Next.js's `generateStaticParams`). Every other path is rendered on its
  first request and cached when its answer is cacheable.
- Cache metadata comes from the app's own answer (`seeding.cache_headers`):
  `Cache-Control` gives revalidate and expire or makes the page dynamic; `Cache-Tag`
  gives its tags (and is not sent on to clients, as Cloudflare strips it too).
- Lifespan: `startup` runs once per process or isolate, before the first render, with a
  timeout. An app that does not speak lifespan is served anyway (as the ASGI spec
  says). A failing startup raises `SiteStartupError`: a clear error at build time, a
  logged 500 at run time (retried at most every `startup_retry` seconds), never a hang.
- Each render is one `http` scope: the canonical URL path of the route (with
  `root_path` = the site's basePath), the request's method, headers, query and body
  when there is a request (none for the canonical request of the build, background
  regeneration and a render that may be stored: then the scheme and `host` are the
  request's `origin`, the configured `SITE_ORIGIN`, else this site's `origin`), and
  `scope["env"]` = the Worker's env at run time, as the platform's own `workers.asgi`
  does. The body is collected whole, streamed or not.
  The scope claims ASGI spec 2.4, so a streaming response needs no disconnect watcher.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from seeding.cache_headers import cache_policy, cache_tags
from seeding.config import SiteConfig
from seeding.primitives.singleflight import SingleFlight
from seeding.rendering import (
    RenderMode,
    RenderRequest,
    RenderResult,
    SiteRoute,
    SiteStartupError,
)
from seeding.routes import Variant, canonical_path, resolve_request_path

log = logging.getLogger("seeding")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PrerenderList = Iterable[str] | Callable[[], Iterable[str] | Awaitable[Iterable[str]]]

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
# Headers that describe a connection or an encoding of the body, not the page.
HOP_HEADERS = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})


class AsgiSite:
    """A `seeding.rendering.Renderer` over an ASGI app."""

    declares_vary = True  # the app says what it varies on, in HTTP

    def __init__(
        self,
        app: ASGIApp,
        *,
        prerender: PrerenderList = (),
        config: SiteConfig | None = None,
        default_cache_control: str | None = None,
        origin: str = "http://localhost",
        startup_timeout: float = 30.0,
        startup_retry: float = 10.0,
    ) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"origin {origin!r} must be like 'https://example.com'")
        if config is not None and config.data_variant:
            raise ValueError("an AsgiSite has no data variant: its app answers each path once")
        self.app = app
        self.prerender = prerender
        self.default_cache_control = default_cache_control
        self.scheme = parts.scheme
        self.host = parts.netloc
        self._config = config or SiteConfig()
        self._lifespan = _Lifespan(app, startup_timeout, startup_retry)

    @property
    def config(self) -> SiteConfig:
        return self._config

    async def site_routes(self) -> Sequence[SiteRoute]:
        await self._lifespan.start()
        listed = self.prerender() if callable(self.prerender) else self.prerender
        paths = await listed if inspect.isawaitable(listed) else listed
        routes = []
        for path in paths:
            target = resolve_request_path(
                path, base_path=self.config.base_path, trailing_slash=self.config.trailing_slash
            )
            if target is None:
                raise ValueError(
                    f"prerender path {path!r} is not a route of this site (a URL path "
                    f"under basePath {self.config.base_path!r}, e.g. '/about')"
                )
            routes.append(SiteRoute(target.route, target.route, RenderMode.PRERENDER))
        return routes

    async def render(self, request: RenderRequest) -> RenderResult:
        await self._lifespan.start()
        status, headers, body = await self._call(request)
        policy = cache_policy(headers, self.default_cache_control)
        tags = cache_tags(headers.pop("cache-tag", None))
        return RenderResult(
            status=status,
            headers=headers,
            body=body,
            revalidate=policy.revalidate,
            expire=policy.expire,
            dynamic=policy.dynamic,
            tags=tags,
        )

    async def aclose(self) -> None:
        """Run the app's lifespan shutdown (the build calls this when done)."""
        await self._lifespan.stop()

    async def _call(self, request: RenderRequest) -> tuple[int, dict[str, str], bytes]:
        config = self.config
        path = canonical_path(
            request.route,
            Variant.HTML,
            base_path=config.base_path,
            trailing_slash=config.trailing_slash,
        )
        scheme, netloc = self.scheme, self.host
        if request.origin is not None:
            origin = urlsplit(request.origin)
            scheme, netloc = origin.scheme, origin.netloc
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items()
        ]
        if not any(name == b"host" for name, _ in headers):
            headers.append((b"host", netloc.encode("latin-1")))
        host, _, port = netloc.partition(":")
        scope: Scope = {
            "type": "http",
            "asgi": dict(ASGI_VERSION),
            "http_version": "1.1",
            "method": request.method,
            "scheme": scheme,
            "path": path,
            "raw_path": quote(path, safe="/:@!$&'()*+,;=-._~").encode("ascii"),
            "query_string": request.query.encode("utf-8"),
            "root_path": config.base_path,
            "headers": headers,
            "client": None,
            "server": (host, int(port) if port else (443 if scheme == "https" else 80)),
            "state": dict(self._lifespan.state),
            "extensions": {},
        }
        if request.env is not None:
            scope["env"] = request.env
        return await _Exchange(request.body).run(self.app, scope)


class _Exchange:
    """One HTTP request/response with the app, collected in memory."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent_body = False
        self.done = asyncio.Event()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []

    async def receive(self) -> Message:
        if not self.sent_body:
            self.sent_body = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("the app started its response twice")
            self.status = int(message["status"])
            for raw_name, raw_value in message.get("headers", ()):
                name = bytes(raw_name).decode("latin-1").lower()
                value = bytes(raw_value).decode("latin-1")
                if name in HOP_HEADERS:
                    continue
                # A header sent twice (Set-Cookie) keeps every value, one per line.
                if name in self.headers:
                    joiner = "\n" if name == "set-cookie" else ", "
                    value = f"{self.headers[name]}{joiner}{value}"
                self.headers[name] = value
        elif kind == "http.response.body":
            if self.status is None:
                raise RuntimeError("the app sent a body before starting its response")
            self.chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self.done.set()

    async def run(self, app: ASGIApp, scope: Scope) -> tuple[int, dict[str, str], bytes]:
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            if not self.done.is_set():
                raise
            # The answer was complete (an error middleware answered, then re-raised).
            log.exception("seeding: the app raised after answering %s", scope["path"])
        finally:
            self.done.set()
        if self.status is None:
            raise RuntimeError(f"the app returned no response for {scope['path']}")
        return self.status, self.headers, b"".join(self.chunks)


class _Lifespan:
    """The app's lifespan protocol, started once (concurrent callers share it)."""

    def __init__(self, app: ASGIApp, timeout: float, retry: float) -> None:
        self.app = app
        self.timeout = timeout
        self.retry = retry
        self.state: dict[str, Any] = {}
        self.started = False
        self.supported = True
        self._failed: tuple[float, str] | None = None
        self._flight: SingleFlight[str, str | None] = SingleFlight(max_wait=timeout + 1)
        self._shutdown = asyncio.Event()
        self._task: asyncio.Future[None] | None = None
        self._messages: asyncio.Queue[Message] = asyncio.Queue()

    async def start(self) -> None:
        if self.started:
            return
        if self._failed is not None and time.monotonic() - self._failed[0] < self.retry:
            raise SiteStartupError(self._failed[1])
        error = await self._flight.run("startup", self._start, "startup did not finish")
        if error is not None:
            raise SiteStartupError(error)

    async def _start(self) -> str | None:
        if self.started:
            return None
        self._shutdown = asyncio.Event()
        self._messages = asyncio.Queue()
        first = True

        async def receive() -> Message:
            nonlocal first
            if first:
                first = False
                return {"type": "lifespan.startup"}
            await self._shutdown.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: Message) -> None:
            await self._messages.put(message)

        scope = {"type": "lifespan", "asgi": dict(ASGI_VERSION), "state": self.state}
        task = asyncio.ensure_future(self.app(scope, receive, send))
        # Its failure is reported through the lifespan messages (or below), not here.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._task = task
        reply = asyncio.ensure_future(self._messages.get())
        done, _ = await asyncio.wait(
            {task, reply}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if reply in done:
            message = reply.result()
            if message.get("type") == "lifespan.startup.complete":
                self.started = True
                return None
            error = f"lifespan startup failed: {message.get('message') or message}"
        elif task in done:
            reply.cancel()
            # Returning or raising on the lifespan scope without a word means no lifespan
            # support: the ASGI spec says to go on without lifespan events.
            if task.exception() is not None:
                log.info("seeding: the app does not support lifespan (%r)", task.exception())
            self.supported = False
            self.started = True
            return None
        else:
            reply.cancel()
            task.cancel()
            error = f"lifespan startup did not finish within {self.timeout:g} s"
        self._failed = (time.monotonic(), error)
        log.error("seeding: the app failed to start: %s", error)
        return error

    async def stop(self) -> None:
        if not self.started or not self.supported or self._task is None:
            return
        self._shutdown.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.timeout)
        except Exception:
            log.warning("seeding: the app's lifespan shutdown did not finish cleanly")
        self.started = False

"""Test doubles for the seeding core: a small site, an asset store over a build
directory with fault injection and a fetch log, and a clock that moves on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seeding.config import SiteConfig
from seeding.rendering import RenderMode, RenderRequest, RenderResult, SiteRoute
from seeding.routes import PRERENDER_PREFIX, Variant
from seeding.seed.assets import AssetResponse


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


BOTH = (Variant.HTML, Variant.DATA)


class FakeSite:
    """Home and about (never revalidated), a blog (60 s, tagged), an on-demand post, a
    dynamic page; with the data variant unless the config says otherwise. Every body
    says how it was made, so tests can tell a seed from a render."""

    declares_vary = False

    def __init__(self, config: SiteConfig | None = None) -> None:
        self.config = config or SiteConfig(data_variant=True)
        self.renders: list[tuple[str, Variant, str]] = []
        self.requests: list[RenderRequest] = []
        self.fail_routes: set[str] = set()
        self.version = 1
        self.extra_headers: dict[str, str] = {}
        self.routes = [
            SiteRoute("/", "/", RenderMode.PRERENDER, variants=BOTH),
            SiteRoute("/about", "/about", RenderMode.PRERENDER, variants=BOTH),
            SiteRoute("/blog", "/blog", RenderMode.PRERENDER, variants=BOTH),
            SiteRoute("/blog/[slug]", "/blog/first", RenderMode.PRERENDER, variants=BOTH),
            SiteRoute("/blog/[slug]", "/blog/second", RenderMode.PRERENDER, variants=BOTH),
            SiteRoute("/blog/[slug]", "/blog/late", RenderMode.ON_DEMAND, "after the build", BOTH),
            SiteRoute("/now", "/now", RenderMode.DYNAMIC, "shows the request time", BOTH),
        ]

    async def site_routes(self) -> list[SiteRoute]:
        return list(self.routes)

    async def render(self, request: RenderRequest) -> RenderResult:
        self.renders.append((request.route, request.variant, request.phase))
        self.requests.append(request)
        if request.route in self.fail_routes:
            raise RuntimeError(f"renderer broke on {request.route}")
        known = {r.path for r in self.routes}
        status = 200 if request.route in known else 404
        revalidate = 60 if request.route.startswith("/blog") else None
        dynamic = request.route == "/now"
        payload = {
            "route": request.route,
            "phase": request.phase,
            "at": request.now,
            "version": self.version,
            "status": status,
        }
        if request.variant is Variant.DATA:
            body = json.dumps(payload).encode()
        else:
            body = (
                f"<h1>{request.route}</h1><p>{request.phase} at {request.now} v{self.version}</p>"
            ).encode()
        headers = {"content-type": request.variant.content_type, **self.extra_headers}
        tags = (f"post:{request.route.rsplit('/', 1)[-1]}",) if revalidate else ()
        return RenderResult(
            status, headers, body, revalidate=revalidate, dynamic=dynamic, tags=tags
        )

    def render_count(self, route: str | None = None) -> int:
        return sum(1 for r in self.renders if route is None or r[0] == route)


@dataclass
class Fault:
    kind: str  # "raise", "status", "bad-body"
    status: int = 500
    times: int | None = None  # None: always


@dataclass
class FakeAssets:
    """Serves `<root>/<rel>` for `/__prerender/<rel>`; records every fetch."""

    root: Path
    yield_steps: int = 0  # event-loop turns each fetch takes, to expose races
    faults: dict[str, Fault] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    on_fetch: Callable[[str], Awaitable[None]] | None = None

    async def fetch(self, path: str) -> AssetResponse:
        self.log.append(path)
        for _ in range(self.yield_steps):
            await asyncio.sleep(0)
        if self.on_fetch is not None:
            await self.on_fetch(path)
        fault = self._fault_for(path)
        if fault is not None:
            if fault.kind == "raise":
                raise ConnectionError(f"injected failure for {path}")
            if fault.kind == "status":
                return AssetResponse(fault.status, b"")
            if fault.kind == "bad-body":
                raise OSError("body stream broke")
        if not path.startswith(PRERENDER_PREFIX):
            return AssetResponse(404, b"")
        file = self.root / path[len(PRERENDER_PREFIX) :]
        if not file.is_file():
            return AssetResponse(404, b"")
        return AssetResponse(200, file.read_bytes())

    def _fault_for(self, path: str) -> Fault | None:
        for suffix, fault in self.faults.items():
            if path.endswith(suffix) and (fault.times is None or fault.times > 0):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def fetches(self, contains: str = "") -> int:
        return sum(1 for p in self.log if contains in p)


class WaitUntil:
    """Collects `ctx.waitUntil` coroutines; `drain` runs them as the runtime would."""

    def __init__(self) -> None:
        self.pending: list[Awaitable[Any]] = []

    def __call__(self, awaitable: Awaitable[Any]) -> None:
        self.pending.append(awaitable)

    async def drain(self) -> None:
        while self.pending:
            await self.pending.pop(0)

"""Helpers shared by the hardening tests: a build made once, fresh "isolates" (a
handler with its own cache and index) over it, and what the build allows to fetch."""

from __future__ import annotations

import asyncio
from pathlib import Path

from seeding.cache import MemoryCache
from seeding.config import SiteConfig
from seeding.handler import SiteHandler
from seeding.http import Request, Response
from seeding.manifest import RouteStatus, parse_manifest
from seeding.rendering import Renderer
from seeding.route_index import MANIFEST_ASSET_PATH, ManifestIndex
from seeding.routes import MANIFEST_FILE, Variant, asset_path
from tests.unit.conftest import prerender
from tests.unit.fakes import FakeAssets, FakeClock, FakeSite, WaitUntil


def build_once(out: Path, site: Renderer | None = None, config: SiteConfig | None = None) -> Path:
    """Run the real build script on the fake site, outside any event loop."""
    return asyncio.run(prerender(site or FakeSite(), config or SiteConfig(), out, FakeClock()))


class Isolate:
    """One fresh isolate over a prerender root: its own handler, cache and index."""

    def __init__(
        self,
        root: Path,
        site: Renderer | None = None,
        config: SiteConfig | None = None,
        clock: FakeClock | None = None,
        max_bytes: int = 1 << 20,
    ) -> None:
        self.config = config or SiteConfig()
        self.site = site or FakeSite()
        self.clock = clock or FakeClock(1_800_000_001.0)
        self.assets = FakeAssets(root)
        self.wait_until = WaitUntil()
        index = ManifestIndex(
            self.clock,
            base_path=self.config.base_path,
            trailing_slash=self.config.trailing_slash,
        )
        self.handler = SiteHandler(
            self.site, self.config, MemoryCache(max_bytes), index, self.clock
        )

    async def request(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        origin: str = "https://example.com",
    ) -> Response:
        request = Request(method, origin + path, headers or {})
        response = await self.handler.handle(request, self.assets, self.wait_until)
        await self.wait_until.drain()
        return response

    def get(self, path: str, headers: dict[str, str] | None = None, **kw) -> Response:
        """The same, from synchronous (hypothesis) tests: one event loop per call."""
        return asyncio.run(self.request(path, headers, **kw))


def allowed_fetches(root: Path) -> dict[str, str]:
    """Every asset path the Worker may ever fetch from this build, with the route it
    belongs to: the manifest, and the files of the routes the build rendered."""
    manifest = parse_manifest((root / MANIFEST_FILE).read_bytes())
    allowed = {MANIFEST_ASSET_PATH: ""}
    for route, record in manifest.routes.items():
        if record.status is RouteStatus.RENDERED:
            for variant in Variant:
                if variant in record.variants:
                    allowed[asset_path(record.variants[variant].file)] = route
    return allowed

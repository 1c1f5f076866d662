"""Helpers shared by the hardening tests: a build made once, fresh "isolates" (a
handler with its own cache and index) over it, and what the build allows to fetch."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import scripts.copy_prerender as copy_script
from seeding.cache import MemoryCache
from seeding.config import SiteConfig
from seeding.handler import SiteHandler
from seeding.http import Request, Response
from seeding.layout import BUILD_FILE, parse_build_layout, parse_shard, shard_file
from seeding.manifest import RouteStatus, parse_manifest
from seeding.rendering import Renderer
from seeding.route_index import MANIFEST_ASSET_PATH, ManifestIndex, RouteIndex
from seeding.routes import MANIFEST_FILE, PRERENDER_DIR, asset_path
from seeding.sharded_index import ShardedIndex
from tests.unit.conftest import prerender
from tests.unit.fakes import FakeAssets, FakeClock, FakeSite, WaitUntil


def build_once(out: Path, site: Renderer | None = None, config: SiteConfig | None = None) -> Path:
    """Run the real build script on the fake site, outside any event loop."""
    return asyncio.run(prerender(site or FakeSite(), config or SiteConfig(), out, FakeClock()))


def copy_once(build: Path, assets: Path, layout: str = "sharded") -> Path:
    """Run the real copy script quietly; the prerender root it wrote."""
    assets.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert copy_script.main([str(build), str(assets), "--layout", layout]) == 0
    return assets / PRERENDER_DIR


class Isolate:
    """One fresh isolate over a prerender root: its own handler, cache and index
    ("manifest": `ManifestIndex`; "sharded": `ShardedIndex`, the root then being what
    `copy_prerender.py --layout sharded` wrote)."""

    def __init__(
        self,
        root: Path,
        site: Renderer | None = None,
        config: SiteConfig | None = None,
        clock: FakeClock | None = None,
        max_bytes: int = 1 << 20,
        index: str = "manifest",
    ) -> None:
        self.config = config or SiteConfig()
        self.site = site or FakeSite()
        self.clock = clock or FakeClock(1_800_000_001.0)
        self.assets = FakeAssets(root)
        self.wait_until = WaitUntil()
        kind = ManifestIndex if index == "manifest" else ShardedIndex
        self.index: RouteIndex = kind(
            self.clock,
            base_path=self.config.base_path,
            trailing_slash=self.config.trailing_slash,
        )
        self.handler = SiteHandler(
            self.site, self.config, MemoryCache(max_bytes), self.index, self.clock
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


def allowed_fetches(root: Path) -> dict[str, frozenset[str]]:
    """Every asset path the Worker may ever fetch from this prerender root (either
    layout), with the routes whose bodies it holds: empty for index files (the
    manifest; build.json and the shards), the rendered routes for a body file."""
    allowed: dict[str, set[str]] = {}
    if (root / MANIFEST_FILE).exists():
        manifest = parse_manifest((root / MANIFEST_FILE).read_bytes())
        allowed[MANIFEST_ASSET_PATH] = set()
        for route, record in manifest.routes.items():
            if record.status is RouteStatus.RENDERED:
                for info in record.variants.values():
                    allowed.setdefault(asset_path(info.file), set()).add(route)
    if (root / BUILD_FILE).exists():
        layout = parse_build_layout((root / BUILD_FILE).read_bytes())
        allowed[asset_path(BUILD_FILE)] = set()
        for number in range(layout.shards):
            allowed[asset_path(shard_file(number))] = set()
            text = (root / shard_file(number)).read_bytes()
            shard = parse_shard(text, shard_file(number), layout=layout, shard=number)
            for route, record in shard.routes.items():
                if record.status is RouteStatus.RENDERED:
                    for info in record.variants.values():
                        allowed.setdefault(asset_path(info.file), set()).add(route)
    return {path: frozenset(routes) for path, routes in allowed.items()}

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.prerender import write_build
from seeding.cache import MemoryCache
from seeding.config import SiteConfig
from seeding.handler import SiteHandler
from seeding.http import Request, Response
from seeding.route_index import ManifestIndex, RouteIndex
from seeding.sharded_index import ShardedIndex
from tests.unit.fakes import FakeAssets, FakeClock, FakeSite, WaitUntil


async def prerender(site: FakeSite, config: SiteConfig, out: Path, clock: FakeClock) -> Path:
    """Run the real build script's code on the fake site, quietly."""
    import scripts.prerender as prerender_module

    real_time = prerender_module.time.time
    prerender_module.time.time = clock  # the build time is the fake clock's now
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert await write_build(site, config, out) == 0
    finally:
        prerender_module.time.time = real_time
    return out


@dataclass
class Harness:
    site: FakeSite
    assets: FakeAssets
    clock: FakeClock
    handler: SiteHandler
    wait_until: WaitUntil

    async def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Response:
        request = Request(method, "https://example.com" + path, headers or {})
        return await self.handler.handle(request, self.assets, self.wait_until)

    @property
    def index(self) -> ManifestIndex:
        assert isinstance(self.handler.index, ManifestIndex)
        return self.handler.index

    @property
    def sharded(self) -> ShardedIndex:
        assert isinstance(self.handler.index, ShardedIndex)
        return self.handler.index


def copy_layout(build: Path, public: Path, layout: str = "sharded") -> Path:
    """Run the real copy script's code on a build, quietly; the prerender root."""
    import scripts.copy_prerender as copy_script

    public.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert copy_script.copy_build(build, public, layout) == 0
    return public / "__prerender"


async def make_harness(
    tmp_path: Path,
    config: SiteConfig | None = None,
    max_bytes: int = 1 << 20,
    site: FakeSite | None = None,
    layout: str = "manifest",
) -> Harness:
    """`layout` "manifest" serves the build directory as the prerender root, read by
    a `ManifestIndex`; "sharded" serves what `copy_prerender --layout sharded` made
    of it, read by a `ShardedIndex`."""
    config = config or SiteConfig()
    site = site or FakeSite()
    clock = FakeClock()
    build = await prerender(site, config, tmp_path / "build", clock)
    site.renders.clear()
    clock.advance(1)
    index: RouteIndex
    root = build
    if layout == "sharded":
        root = copy_layout(build, tmp_path / "public")
        index = ShardedIndex(
            clock, base_path=config.base_path, trailing_slash=config.trailing_slash
        )
    else:
        index = ManifestIndex(
            clock, base_path=config.base_path, trailing_slash=config.trailing_slash
        )
    handler = SiteHandler(site, config, MemoryCache(max_bytes), index, clock)
    return Harness(site, FakeAssets(root), clock, handler, WaitUntil())


@pytest.fixture
async def harness(tmp_path: Path) -> Harness:
    return await make_harness(tmp_path)

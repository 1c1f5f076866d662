from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from seeding.config import SiteConfig
from seeding.http import Response
from tests.unit.fakes import FakeAssets, FakeClock, FakeSite, WaitUntil
from tests.unit.support import Deploy, Isolate, copy, prerender


@dataclass
class Harness:
    """A site built and deployed once, served by one isolate whose renders are counted
    from the deploy on (the build's renders are forgotten)."""

    site: FakeSite
    deploy: Deploy
    isolate: Isolate

    @property
    def assets(self) -> FakeAssets:
        return self.isolate.assets

    @property
    def clock(self) -> FakeClock:
        return self.isolate.clock

    @property
    def handler(self):  # type: ignore[no-untyped-def]
        return self.isolate.handler

    @property
    def wait_until(self) -> WaitUntil:
        return self.isolate.wait_until

    async def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Response:
        return await self.isolate.request(path, headers, method, drain=False)


async def make_harness(
    tmp_path: Path,
    config: SiteConfig | None = None,
    max_bytes: int = 1 << 20,
    site: FakeSite | None = None,
) -> Harness:
    site = site or FakeSite(config)
    clock = FakeClock()
    build = await prerender(site, tmp_path / "build", clock)
    deploy = copy(build, tmp_path / "public")
    site.renders.clear()
    site.requests.clear()
    clock.advance(1)
    return Harness(site, deploy, Isolate(deploy, site, clock, max_bytes))


@pytest.fixture
async def harness(tmp_path: Path) -> Harness:
    return await make_harness(tmp_path)

"""What the unit tests share: the real build steps run quietly on a fake site, and
fresh "isolates" (a handler with its own cache, over the Worker's build identity and a
fake asset store) over their output."""

from __future__ import annotations

import asyncio
import types
from dataclasses import dataclass
from pathlib import Path

from seeding.build.copy import CopyResult, copy_build
from seeding.build.prerender import ExitCode, write_build
from seeding.edge.deploys import BuildSweep
from seeding.flow.handler import Bindings, SiteHandler
from seeding.front import Front, Revalidation
from seeding.http import Request, Response
from seeding.primitives.cache import MemoryCache
from seeding.rendering import Renderer
from seeding.routes import PRERENDER_DIR, asset_path
from seeding.seed.build_identity import BUILD_MODULE, BuildIdentity
from seeding.seed.build_identity import identity_of as module_identity
from seeding.seed.packs import RouteDigest, pack_file
from seeding.shared.tier import SharedTier
from tests.unit.fakes import FakeAssets, FakeClock, FakeSite, WaitUntil


def quiet(_line: str) -> None:
    pass


async def prerender(site: Renderer, out: Path, clock: FakeClock | None = None) -> Path:
    """The real prerender step on `site`, quietly, at the fake clock's time."""
    code = await write_build(site, out, clock=clock or FakeClock(), say=quiet)
    assert code is ExitCode.OK
    return out


def build_once(out: Path, site: Renderer | None = None, clock: FakeClock | None = None) -> Path:
    """The same, from outside any event loop."""
    return asyncio.run(prerender(site or FakeSite(), out, clock))


@dataclass(frozen=True)
class Deploy:
    """What the copy step made: the assets' prerender root and the Worker's module."""

    public: Path
    worker_dir: Path
    result: CopyResult

    @property
    def root(self) -> Path:
        return self.public / PRERENDER_DIR

    @property
    def module(self) -> Path:
        return self.worker_dir / f"{BUILD_MODULE}.py"

    def identity(self) -> BuildIdentity:
        return identity_of(self.module)


def copy(build: Path, public: Path, worker_dir: Path | None = None) -> Deploy:
    """The real copy step, quietly."""
    public.mkdir(parents=True, exist_ok=True)
    worker_dir = worker_dir or public.parent / "worker"
    worker_dir.mkdir(parents=True, exist_ok=True)
    result = copy_build(build, public, worker_dir, say=quiet, warn=quiet)
    return Deploy(public, worker_dir, result)


def identity_of(module: Path) -> BuildIdentity:
    """The build identity a Worker importing `module` would have."""
    namespace = types.SimpleNamespace()
    exec(compile(module.read_text(), str(module), "exec"), vars(namespace))
    return module_identity(namespace, module.name)


class Isolate:
    """One fresh isolate: its own handler and memory cache, over a deploy."""

    def __init__(
        self,
        deploy: Deploy | None,
        site: Renderer | None = None,
        clock: FakeClock | None = None,
        max_bytes: int = 1 << 20,
        identity: BuildIdentity | None = None,
        shared: SharedTier | None = None,
        revalidation: Revalidation | None = None,
        sweep: BuildSweep | None = None,
    ) -> None:
        self.site = site or FakeSite()
        self.clock = clock or FakeClock(1_800_000_001.0)
        self.assets = FakeAssets(deploy.root if deploy else Path("/nonexistent"))
        self.wait_until = WaitUntil()
        build = identity or (deploy.identity() if deploy else None)
        self.handler = SiteHandler(self.site, MemoryCache(max_bytes), self.clock, build, shared)
        self.front = Front(self.handler, revalidation, sweep=sweep)
        self.bindings = Bindings(self.assets, self.wait_until)

    async def request(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        origin: str = "https://example.com",
        body: bytes = b"",
        drain: bool = True,
    ) -> Response:
        request = Request(method, origin + path, headers or {}, body)
        response = await self.front.handle(request, self.bindings)
        if drain:
            await self.wait_until.drain()
        return response

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: object) -> Response:
        """The same, from synchronous (hypothesis) tests: one event loop per call."""
        return asyncio.run(self.request(path, headers, **kw))  # type: ignore[arg-type]


def allowed_fetches(deploy: Deploy) -> dict[str, frozenset[str]]:
    """Every asset path the Worker may fetch from this deploy, with the routes whose
    bodies the file holds."""
    allowed: dict[str, set[str]] = {}
    for bucket in deploy.result.plan.plans:
        for part in range(len(bucket.parts)):
            routes = {placed.route for placed in bucket.parts[part]}
            allowed.setdefault(asset_path(pack_file(bucket.bucket, part)), set()).update(routes)
    return {path: frozenset(routes) for path, routes in allowed.items()}


def pack_path(identity: BuildIdentity, route: str) -> str:
    """The asset path of the pack (part 0) that holds `route`."""
    return asset_path(pack_file(RouteDigest.of(route).bucket(identity.buckets)))


def deploy_once(base: Path, site: Renderer | None = None, clock: FakeClock | None = None) -> Deploy:
    """Build `site` and copy it, under `base` (from outside any event loop)."""
    return copy(build_once(base / "build", site, clock), base / "public")

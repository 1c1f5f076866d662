"""The sharded layout end to end: the copy script lays a build out, `ShardedIndex`
and the seeder read it through a fake asset store.

A cold seed reads meta/build.json (once per isolate), the route's shard (which is the
exact membership check) and one pack (both variants of the route); nothing is read
for a path the build did not list beyond its shard, and no failure reaches a
request. The scale tests size synthetic sites with the copy script's planner and
compare the bytes a cold seed fetches on sites of 1,000 and 20,000 routes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import statistics
import tracemalloc
from pathlib import Path

import pytest

import scripts.copy_prerender as copy_script
from bench.scale import layout_budget, sample_routes, within_ratio
from bench.synthetic_site import BUILT_AT, SiteSpec, synthetic_manifest, write_site
from scripts.copy_prerender import FREE_PLAN_FILES, PAID_PLAN_FILES
from seeding.cache import MemoryCache
from seeding.config import SiteConfig
from seeding.handler import SiteHandler
from seeding.layout import (
    BUILD_FILE,
    parse_build_layout,
    route_shard,
    shard_file,
)
from seeding.manifest import MAX_ASSET_BYTES, PrerenderManifest
from seeding.route_index import ManifestIndex
from seeding.routes import MANIFEST_FILE, Variant
from seeding.sharded_index import ShardedIndex
from tests.unit.conftest import Harness, copy_layout, make_harness
from tests.unit.fakes import FakeAssets, FakeClock, FakeSite, Fault, WaitUntil

BUILD = "meta/build.json"


async def sharded(tmp_path: Path, **kw) -> Harness:
    return await make_harness(tmp_path, layout="sharded", **kw)


def layout_of(h: Harness):
    return parse_build_layout((h.assets.root / BUILD_FILE).read_bytes())


def shard_path(h: Harness, route: str) -> str:
    return shard_file(route_shard(route, layout_of(h).shards))


def pack_path(h: Harness, route: str) -> str:
    """The pack that holds `route`'s HTML body, read from its shard."""
    layout = layout_of(h)
    number = route_shard(route, layout.shards)
    shard = json.loads((h.assets.root / shard_file(number)).read_text())
    return f"packs/{number}/{shard['routes'][route]['variants']['html'][0]}.bin"


def kinds(log: list[str]) -> list[str]:
    return ["build" if p.endswith(BUILD) else p.split("/")[2] for p in log]


# --- the cold seed ------------------------------------------------------------------


async def test_cold_seed_fetches_build_one_shard_one_pack_then_both_variants_hit(
    tmp_path: Path,
) -> None:
    h = await sharded(tmp_path)
    first = await h.get("/blog/first")
    assert first.status == 200 and first.headers["x-cache-status"] == "HIT"
    assert "build at" in first.body.decode()
    assert h.assets.log == [
        "/__prerender/" + BUILD,
        "/__prerender/" + shard_path(h, "/blog/first"),
        "/__prerender/" + pack_path(h, "/blog/first"),
    ]
    data = await h.get("/blog/first.json")
    assert data.headers["x-cache-status"] == "HIT"
    assert data.headers["content-type"] == "application/json"
    assert json.loads(data.body) == {**json.loads(data.body), "route": "/blog/first"}
    again = await h.get("/blog/first")
    assert again.body == first.body
    assert len(h.assets.log) == 3  # the data variant came with the HTML's pack
    assert h.site.render_count() == 0


async def test_a_pack_neighbour_is_not_cached(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    await h.get("/about")
    assert len(h.handler.cache) == 2  # /about's html and data, nothing else from its pack


async def test_sharded_and_manifest_layouts_serve_the_same_bytes(tmp_path: Path) -> None:
    a = await sharded(tmp_path / "a")
    b = await make_harness(tmp_path / "b")
    for path in ["/", "/index.json", "/about", "/blog", "/blog/first.json", "/blog/second"]:
        x, y = await a.get(path), await b.get(path)
        assert (x.status, x.body, x.headers["content-type"]) == (
            y.status,
            y.body,
            y.headers["content-type"],
        )
        assert x.headers["cache-control"] == y.headers["cache-control"]


async def test_routes_in_the_same_shard_share_one_shard_fetch(tmp_path: Path) -> None:
    h = await sharded(tmp_path)  # 7 routes: one shard
    assert layout_of(h).shards == 1
    for path in ["/", "/about", "/blog", "/blog/first", "/blog/second"]:
        assert (await h.get(path)).status == 200
    assert h.assets.fetches("/index/") == 1 and h.assets.fetches(BUILD) == 1


async def test_fifty_concurrent_cold_requests_fetch_each_file_once(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    h.assets.yield_steps = 5
    responses = await asyncio.gather(*(h.get("/blog/first") for _ in range(50)))
    assert {r.status for r in responses} == {200}
    assert len({r.body for r in responses}) == 1
    assert kinds(h.assets.log) == ["build", "index", "packs"]
    assert h.site.render_count() == 0


async def test_concurrent_html_and_data_requests_share_the_pack_fetch(tmp_path: Path) -> None:
    h = await sharded(tmp_path)

    async def slow(_path: str) -> None:
        await asyncio.sleep(0.01)

    h.assets.on_fetch = slow
    mixed = ["/blog/first", "/blog/first.json", "/blog/second", "/blog/second.json"] * 13
    responses = await asyncio.gather(*(h.get(p) for p in mixed))
    assert all(r.status == 200 and r.headers["x-cache-status"] == "HIT" for r in responses)
    assert h.assets.log.count("/__prerender/" + pack_path(h, "/blog/first")) == 1
    assert h.assets.log.count("/__prerender/" + pack_path(h, "/blog/second")) == 1
    assert len(h.assets.log) == len(set(h.assets.log))  # no file twice
    assert h.site.render_count() == 0


# --- membership ---------------------------------------------------------------------


async def test_unlisted_paths_fetch_only_their_shard_and_never_a_route_file(
    tmp_path: Path,
) -> None:
    h = await sharded(tmp_path)
    for path in ["/nope", "/blog/late", "/now", "/blog/nope.json", "/a/b/c"]:
        await h.get(path)
    # build.json once, then the one shard (7 routes, one shard): the membership check.
    assert kinds(h.assets.log) == ["build", "index"]
    assert h.assets.fetches("/packs/") == 0


async def test_the_shard_lookup_is_exact_for_many_shards(tmp_path: Path) -> None:
    """With many shards, each unlisted path costs at most its own shard; listed but
    not rendered routes never fetch a pack."""
    spec = SiteSpec(600, html_bytes=(200, 400), data_bytes=(50, 100))
    build = tmp_path / "build"
    manifest = write_site(spec, build)
    root = copy_layout(build, tmp_path / "public")
    clock = FakeClock()
    index = ShardedIndex(clock)
    assets = FakeAssets(root)
    handler = SiteHandler(FakeSite(), SiteConfig(), MemoryCache(1 << 20), index, clock)

    async def get(path: str):
        from seeding.http import Request

        return await handler.handle(Request("GET", "https://x" + path, {}), assets, WaitUntil())

    skipped = [p for p, r in manifest.routes.items() if not r.seedable]
    unlisted = [f"/blog/2016/slug-{i:07d}x" for i in range(40)]
    for path in [*skipped, *unlisted]:
        await get(path)
    assert assets.fetches("/packs/") == 0
    shards_fetched = {p for p in assets.log if "/index/" in p}
    assert assets.fetches("/index/") == len(shards_fetched)  # each at most once
    shards = parse_build_layout((root / BUILD_FILE).read_bytes()).shards
    assert shards > 1
    expected = {route_shard(p, shards) for p in [*skipped, *unlisted]}
    assert shards_fetched == {"/__prerender/" + shard_file(n) for n in expected}


# --- failures -----------------------------------------------------------------------


async def test_transient_build_json_failure_is_retried_by_a_later_request(
    tmp_path: Path,
) -> None:
    h = await sharded(tmp_path)
    h.assets.faults[BUILD] = Fault("status", 503, times=1)
    first = await h.get("/about")
    assert first.status == 200 and first.headers["x-cache-status"] == "MISS"
    second = await h.get("/blog")
    assert second.headers["x-cache-status"] == "MISS"  # within the retry interval
    assert h.assets.fetches(BUILD) == 1
    h.clock.advance(2)
    third = await h.get("/blog")
    assert third.headers["x-cache-status"] == "HIT" and "build at" in third.body.decode()
    assert h.assets.fetches(BUILD) == 2


async def test_build_json_fetch_that_raises_is_retried(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    h.assets.faults[BUILD] = Fault("bad-body", times=1)
    assert (await h.get("/about")).status == 200
    h.clock.advance(2)
    assert (await h.get("/blog")).headers["x-cache-status"] == "HIT"


async def test_missing_build_json_is_not_retried_and_names_the_fix(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    (h.assets.root / BUILD_FILE).unlink()
    for path in ["/about", "/blog", "/"]:
        h.clock.advance(10)
        assert (await h.get(path)).status == 200
    assert h.assets.fetches(BUILD) == 1 and kinds(h.assets.log) == ["build"]
    error = h.sharded.permanent_error or ""
    assert "404" in error and "SEED_INDEX" in error and "--layout sharded" in error


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.update(hash="md5"), "hash"),
        (lambda d: d.update(shards=0), "shards"),
        (lambda d: d.update(basePath="/docs"), "basePath/trailingSlash"),
    ],
)
async def test_a_build_json_this_code_cannot_use_is_not_retried(
    tmp_path: Path, change, words: str
) -> None:
    h = await sharded(tmp_path)
    path = h.assets.root / BUILD_FILE
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    for _ in range(2):
        h.clock.advance(10)
        assert (await h.get("/about")).status == 200
    assert h.assets.fetches(BUILD) == 1
    assert words in (h.sharded.permanent_error or "")
    assert h.site.render_count("/about") == 1  # rendered once, then cached


async def test_invalid_build_json_is_not_retried(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    (h.assets.root / BUILD_FILE).write_text("{oops")
    await h.get("/about")
    h.clock.advance(10)
    await h.get("/")
    assert h.assets.fetches(BUILD) == 1
    assert "meta/build.json: (document): is not valid JSON" in (h.sharded.permanent_error or "")


async def test_transient_shard_failure_renders_then_a_later_request_seeds(
    tmp_path: Path,
) -> None:
    h = await sharded(tmp_path)
    shard = shard_path(h, "/about")
    h.assets.faults[shard] = Fault("status", 500, times=1)
    first = await h.get("/about")
    assert first.headers["x-cache-status"] == "MISS" and "request at" in first.body.decode()
    await h.get("/blog")  # same shard, within the retry interval: no new fetch
    assert h.assets.fetches(shard) == 1
    h.clock.advance(2)
    third = await h.get("/blog/first")
    assert third.headers["x-cache-status"] == "HIT" and "build at" in third.body.decode()
    assert h.assets.fetches(shard) == 2


async def test_shard_fetch_that_raises_is_transient(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    h.assets.faults[shard_path(h, "/about")] = Fault("raise", times=1)
    assert (await h.get("/about")).status == 200
    assert not h.sharded.shard_errors
    h.clock.advance(2)
    assert (await h.get("/blog")).headers["x-cache-status"] == "HIT"


async def test_missing_shard_is_remembered_and_only_its_routes_render(tmp_path: Path) -> None:
    site_spec = SiteSpec(400, html_bytes=(100, 200), data_bytes=(50, 60))
    build = tmp_path / "build"
    manifest = write_site(site_spec, build)
    root = copy_layout(build, tmp_path / "public")
    layout = parse_build_layout((root / BUILD_FILE).read_bytes())
    assert layout.shards == 3
    (root / shard_file(1)).unlink()
    clock = FakeClock()
    index = ShardedIndex(clock)
    assets = FakeAssets(root)
    from seeding.seeder import Seeder

    seeder = Seeder(MemoryCache(1 << 20), index)
    build_info = await index.build(assets)
    assert build_info is not None
    seeded = {}
    for route in sample_routes(manifest, 60):
        clock.advance(5)
        seeded[route] = await seeder.seed(assets, build_info, route, Variant.HTML) is not None
    for route, ok in seeded.items():
        assert ok == (route_shard(route, 3) != 1), route
    assert assets.fetches(shard_file(1)) == 1
    assert "HTTP 404" in index.shard_errors[1]


async def test_a_shard_of_another_build_is_refused(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    path = h.assets.root / shard_path(h, "/about")
    doc = json.loads(path.read_text())
    doc["buildId"] = "someone-else"
    path.write_text(json.dumps(doc))
    assert (await h.get("/about")).headers["x-cache-status"] == "MISS"
    h.clock.advance(10)
    await h.get("/blog")
    assert h.assets.fetches("/index/") == 1
    (error,) = h.sharded.shard_errors.values()
    assert "buildId" in error and "mixes two builds" in error


async def test_transient_pack_failure_is_retried_later(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    pack = pack_path(h, "/blog/first")
    h.assets.faults[pack] = Fault("status", 503, times=1)
    first = await h.get("/blog/first")
    assert "request at" in first.body.decode()  # rendered
    h.handler.cache.clear()
    second = await h.get("/blog/first")
    assert "build at" in second.body.decode()
    assert (await h.get("/blog/first.json")).headers["x-cache-status"] == "HIT"
    assert h.assets.fetches(pack) == 2


async def test_pack_fetch_that_raises_falls_back_to_the_renderer(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    h.assets.faults[pack_path(h, "/about")] = Fault("raise", times=1)
    response = await h.get("/about")
    assert response.status == 200 and "request at" in response.body.decode()


async def test_missing_pack_is_remembered_for_the_isolate(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    pack = pack_path(h, "/about")
    (h.assets.root / pack).unlink()
    for path in ["/about", "/about.json", "/about"]:
        assert (await h.get(path)).status == 200
        h.handler.cache.clear()
        h.clock.advance(10)
    assert h.assets.fetches(pack) == 1
    assert h.site.render_count("/about") == 3


async def test_a_pack_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    h = await sharded(tmp_path)
    pack = h.assets.root / pack_path(h, "/about")
    pack.write_bytes(pack.read_bytes()[:-1])
    response = await h.get("/about")
    assert "request at" in response.body.decode()
    h.handler.cache.clear()
    await h.get("/about.json")
    assert h.assets.fetches(pack_path(h, "/about")) == 1


async def test_the_shard_lru_is_bounded(tmp_path: Path) -> None:
    build = tmp_path / "build"
    manifest = write_site(SiteSpec(1000, html_bytes=(100, 200), data_bytes=(50, 60)), build)
    root = copy_layout(build, tmp_path / "public")
    clock = FakeClock()
    index = ShardedIndex(clock, max_shards=3)
    assets = FakeAssets(root)
    for route in sample_routes(manifest, 100):
        assert await index.route(assets, route) is not None
        assert index.cached_shards <= 3
    assert index.cached_shards == 3
    index = ShardedIndex(clock, max_shard_bytes=1)  # keeps only the shard in use
    for route in sample_routes(manifest, 10):
        assert await index.route(assets, route) is not None
        assert index.cached_shards == 1


# --- wiring -------------------------------------------------------------------------


def test_create_handler_picks_the_index_from_the_kind() -> None:
    from seeding.handler import create_handler

    site = FakeSite()
    made = create_handler(site, SiteConfig(), max_bytes=1 << 20, clock=FakeClock())
    assert isinstance(made.index, ShardedIndex)
    made = create_handler(
        site, SiteConfig(), max_bytes=1 << 20, clock=FakeClock(), index_kind="manifest"
    )
    assert isinstance(made.index, ManifestIndex)
    with pytest.raises(ValueError, match="index_kind"):
        create_handler(site, SiteConfig(), max_bytes=1, clock=FakeClock(), index_kind="x")


def test_the_seed_index_var_is_parsed_with_a_helpful_error() -> None:
    from seeding.config import ConfigError, index_kind

    assert index_kind({}) == "sharded"
    assert index_kind({"SEED_INDEX": " Manifest "}) == "manifest"
    with pytest.raises(ConfigError, match=r"SEED_INDEX = 'bloom'.*--layout"):
        index_kind({"SEED_INDEX": "bloom"})


# --- scale --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site_100k() -> PrerenderManifest:
    return synthetic_manifest(SiteSpec(100_000))


@pytest.mark.parametrize(
    "routes, plan_limit",
    [(1_000, FREE_PLAN_FILES), (15_000, FREE_PLAN_FILES), (100_000, PAID_PLAN_FILES)],
)
def test_the_sharded_layout_fits_the_file_limits(
    routes: int, plan_limit: int, site_100k: PrerenderManifest
) -> None:
    manifest = site_100k if routes == 100_000 else synthetic_manifest(SiteSpec(routes))
    budget = layout_budget(manifest, "sharded")
    assert budget.files <= plan_limit
    assert budget.files < routes  # fewer than one file per route, index files included
    assert budget.largest_file <= MAX_ASSET_BYTES
    plan = budget.plan
    assert plan is not None and budget.files == plan.file_count
    assert budget.files == copy_script.plan_files(manifest, "sharded")[0]
    per_shard = [len(s.routes) for s in plan.shards]
    assert min(per_shard) >= 64 and max(per_shard) <= 256
    seedable = sum(r.seedable for r in manifest.routes.values())
    assert all(len({p.route for p in pack.parts}) <= 2 for s in plan.shards for pack in s.packs)
    assert plan.pack_count <= seedable // 2 + len(plan.shards)
    if routes >= 15_000:
        # Where the per-route baseline cannot go: 2 files a route.
        baseline, _ = copy_script.plan_files(manifest, "manifest")
        assert baseline > plan_limit


def test_a_pack_never_grows_past_the_file_limit() -> None:
    manifest = synthetic_manifest(SiteSpec(300, html_bytes=(40_000, 60_000)))
    _, plan = copy_script.plan_files(manifest, "sharded")
    assert plan is not None
    from seeding.layout import plan_layout

    tight = plan_layout(manifest, max_pack_bytes=70_000)
    assert tight.largest_pack <= 70_000
    assert tight.pack_count > plan.pack_count
    located = {
        (part.route, part.variant) for s in tight.shards for pack in s.packs for part in pack.parts
    }
    assert len(located) == sum(len(r.variants) for r in manifest.routes.values())


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory) -> dict[int, tuple[Path, Path, list[str]]]:
    """Synthetic sites of 1,000 and 20,000 routes (small pages, to write quickly),
    each as a build directory (the manifest layout) and a sharded copy."""
    sites = {}
    for routes in (1_000, 20_000):
        base = tmp_path_factory.mktemp(f"site{routes}")
        spec = SiteSpec(routes, html_bytes=(300, 900), data_bytes=(100, 300))
        manifest = write_site(spec, base / "build")
        with contextlib.redirect_stdout(io.StringIO()):
            root = copy_layout(base / "build", base / "public")
        sites[routes] = (base / "build", root, sample_routes(manifest, 40))
    return sites


async def _cold_seeds(root: Path, routes: list[str], kind: str) -> tuple[list[int], list[int]]:
    """Bytes fetched and files fetched by a cold seed (fresh isolate) of each route."""
    sizes, counts = [], []
    for route in routes:
        clock = FakeClock(BUILT_AT + 1)  # fresh: the synthetic pages revalidate
        index = ShardedIndex(clock) if kind == "sharded" else ManifestIndex(clock)
        handler = SiteHandler(FakeSite(), SiteConfig(), MemoryCache(1 << 24), index, clock)
        assets = FakeAssets(root)
        from seeding.http import Request

        response = await handler.handle(
            Request("GET", "https://x" + route, {}), assets, WaitUntil()
        )
        assert response.headers["x-cache-status"] == "HIT", route
        sizes.append(sum((root / p[len("/__prerender/") :]).stat().st_size for p in assets.log))
        counts.append(len(assets.log))
    return sizes, counts


async def test_bytes_fetched_by_a_cold_seed_do_not_grow_with_the_site(two_sites) -> None:
    small_build, small_root, small_routes = two_sites[1_000]
    large_build, large_root, large_routes = two_sites[20_000]
    small, small_counts = await _cold_seeds(small_root, small_routes, "sharded")
    large, large_counts = await _cold_seeds(large_root, large_routes, "sharded")
    assert set(small_counts) == set(large_counts) == {3}  # build.json + shard + pack
    assert within_ratio(statistics.mean(small), statistics.mean(large), 1.2)
    assert max(large) < 2 * statistics.mean(small)
    # The baseline grows with the site: its manifest is fetched whole.
    base_small, _ = await _cold_seeds(small_build, small_routes[:3], "manifest")
    base_large, _ = await _cold_seeds(large_build, large_routes[:3], "manifest")
    assert statistics.mean(base_large) > 10 * statistics.mean(base_small)
    assert statistics.mean(large) * 20 < statistics.mean(base_small)


async def test_index_memory_of_a_cold_seed_does_not_grow_with_the_site(two_sites) -> None:
    kept = {}
    for routes, (_, root, sample) in two_sites.items():
        assets = FakeAssets(root)
        sizes = []
        for route in sample[:15]:
            tracemalloc.start()
            try:
                index = ShardedIndex(FakeClock())
                assert await index.route(assets, route) is not None
                sizes.append(tracemalloc.get_traced_memory()[0])
                del index
            finally:
                tracemalloc.stop()
        kept[routes] = statistics.mean(sizes)
    assert within_ratio(kept[1_000], kept[20_000], 1.2), kept


def test_the_manifest_is_not_part_of_the_sharded_copy(two_sites) -> None:
    _, root, _ = two_sites[20_000]
    assert not (root / MANIFEST_FILE).exists() and not (root / "routes").exists()

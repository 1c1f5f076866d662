"""The request flow against a fake asset store: seeding from packs, the cache, failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from seeding.config import SiteConfig
from seeding.seed.packs import RouteDigest
from tests.unit.conftest import Harness, make_harness
from tests.unit.fakes import Fault
from tests.unit.support import Isolate, pack_path


def body_text(response) -> str:
    return response.body.decode()


def pack(h: Harness, route: str) -> str:
    return pack_path(h.deploy.identity(), route)


async def test_first_request_is_seeded_with_one_fetch_then_hits_without_fetching(
    harness: Harness,
) -> None:
    first = await harness.get("/about")
    assert first.status == 200
    assert "build at" in body_text(first)  # the prerendered page, not a render
    assert first.headers["x-cache-status"] == "HIT"
    assert harness.site.render_count() == 0
    assert harness.assets.log == [pack(harness, "/about")]

    second = await harness.get("/about")
    assert second.body == first.body
    assert second.headers["x-cache-status"] == "HIT"
    assert len(harness.assets.log) == 1
    assert harness.site.render_count() == 0


async def test_the_data_variant_comes_with_the_same_fetch(harness: Harness) -> None:
    await harness.get("/blog/first")
    data = await harness.get("/blog/first.json")
    assert data.status == 200
    assert data.headers["content-type"] == "application/json"
    assert json.loads(data.body) == {**json.loads(data.body), "route": "/blog/first"}
    root = await harness.get("/index.json")
    assert json.loads(root.body)["route"] == "/"
    assert harness.assets.log == [pack(harness, "/blog/first"), pack(harness, "/")]
    assert harness.site.render_count() == 0


async def test_a_seeded_page_keeps_its_tags_and_revalidate(harness: Harness) -> None:
    await harness.get("/blog/first")
    key = next(k for k in harness.handler.cache._entries if k.endswith("/blog/first"))
    entry = harness.handler.cache.peek(key)
    assert entry.tags == ("post:first",) and entry.revalidate == 60


async def test_query_string_is_ignored_for_a_cached_route(harness: Harness) -> None:
    a = await harness.get("/about?utm=1")
    b = await harness.get("/about?other=2")
    assert a.body == b.body and b.headers["x-cache-status"] == "HIT"
    assert len(harness.assets.log) == 1


async def test_a_render_for_a_request_with_a_query_is_answered_but_not_stored(
    harness: Harness,
) -> None:
    first = await harness.get("/blog/late?ref=mail")
    assert first.status == 200 and first.headers["x-cache-status"] == "MISS"
    assert harness.site.requests[-1].query == "ref=mail"
    second = await harness.get("/blog/late")
    assert second.headers["x-cache-status"] == "MISS"  # rendered again, and now stored
    assert harness.site.requests[-1].query == ""
    third = await harness.get("/blog/late?ref=other")
    assert third.headers["x-cache-status"] == "HIT"
    assert harness.site.render_count("/blog/late") == 2


async def test_dynamic_renders_receive_the_query_and_headers(harness: Harness) -> None:
    await harness.get("/now?tz=UTC", {"accept-language": "fr"})
    request = harness.site.requests[-1]
    assert request.query == "tz=UTC"
    assert request.headers.get("accept-language") == "fr"


async def test_trailing_slash_off_redirects_slashed_paths_to_canonical(harness: Harness) -> None:
    response = await harness.get("/about/?x=1")
    assert response.status == 308
    assert response.headers["location"] == "/about?x=1"
    assert harness.assets.log == []


async def test_trailing_slash_on_serves_slashed_and_redirects_bare(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, SiteConfig(trailing_slash=True, data_variant=True))
    redirect = await h.get("/blog/first")
    assert redirect.status == 308
    assert redirect.headers["location"] == "/blog/first/"
    page = await h.get("/blog/first/")
    assert page.status == 200
    assert "/blog/first" in body_text(page)
    assert h.site.render_count() == 0
    data = await h.get("/blog/first.json")
    assert data.status == 200


async def test_base_path_is_stripped_and_paths_outside_it_are_not_routes(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, SiteConfig(base_path="/docs", data_variant=True))
    page = await h.get("/docs/about")
    assert page.status == 200 and page.headers["x-cache-status"] == "HIT"
    home = await h.get("/docs")
    assert home.status == 200 and "<h1>/</h1>" in body_text(home)
    outside = await h.get("/about")
    assert outside.status == 404
    assert len(h.assets.log) == 2


async def test_without_the_data_variant_a_json_path_is_an_ordinary_route(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, SiteConfig())
    page = await h.get("/about.json")
    assert page.status == 404
    assert h.site.requests[-1].route == "/about.json"
    assert all(variant.value == "html" for _, variant, _ in h.site.renders)


async def test_percent_encoded_paths_resolve_to_the_same_route(harness: Harness) -> None:
    response = await harness.get("/%61bout")
    assert response.status == 200 and response.headers["x-cache-status"] == "HIT"
    assert harness.assets.log == [pack(harness, "/about")]


async def test_fifty_concurrent_cold_requests_fetch_the_pack_once(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    h.assets.yield_steps = 5
    responses = await asyncio.gather(*(h.get("/blog/first") for _ in range(50)))
    assert {r.status for r in responses} == {200}
    assert len({r.body for r in responses}) == 1
    assert h.assets.log == [pack(h, "/blog/first")]
    assert h.site.render_count() == 0


async def test_concurrent_html_and_data_requests_share_one_fetch(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)

    async def slow(_path: str) -> None:
        await asyncio.sleep(0.01)

    h.assets.on_fetch = slow
    mixed = ["/blog/first", "/blog/first.json"] * 25
    responses = await asyncio.gather(*(h.get(p) for p in mixed))
    assert all(r.status == 200 for r in responses)
    assert h.assets.log == [pack(h, "/blog/first")]


async def test_a_transient_pack_failure_renders_then_a_later_request_seeds(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    h.assets.faults[pack(h, "/about")] = Fault("status", 503, times=1)
    first = await h.get("/about")
    assert first.status == 200 and first.headers["x-cache-status"] == "MISS"  # rendered
    h.handler.cache.clear()
    again = await h.get("/about")  # within the retry interval: no new fetch
    assert len(h.assets.log) == 1 and again.headers["x-cache-status"] == "MISS"
    h.handler.cache.clear()
    h.clock.advance(2)
    later = await h.get("/about")
    assert later.headers["x-cache-status"] == "HIT" and "build at" in body_text(later)
    assert len(h.assets.log) == 2


async def test_a_pack_fetch_that_raises_falls_back_to_the_renderer(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    h.assets.faults[pack(h, "/blog/first")] = Fault("raise", times=1)
    first = await h.get("/blog/first")
    assert first.status == 200
    assert "request at" in body_text(first)  # rendered, not seeded
    assert h.site.render_count("/blog/first") == 1


async def test_a_pack_body_that_fails_to_read_is_retried_later(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    h.assets.faults[pack(h, "/about")] = Fault("bad-body", times=1)
    assert (await h.get("/about")).status == 200
    h.handler.cache.clear()
    h.clock.advance(2)
    again = await h.get("/about")
    assert "build at" in body_text(again)
    assert len(h.assets.log) == 2


async def test_a_missing_pack_is_remembered_for_the_isolate(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    path = pack(h, "/about")
    (h.deploy.public / path.lstrip("/")).unlink()
    for _ in range(3):
        h.clock.advance(10)
        assert (await h.get("/about")).status == 200
        h.handler.cache.clear()
    assert h.assets.log == [path]
    assert "404" in next(iter(h.handler.seeder.pack_errors.values()))


async def test_whatever_a_pack_holds_the_request_is_answered_and_not_retried(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path)
    path = pack(h, "/about")
    file = h.deploy.public / path.lstrip("/")
    garbage = [b"", b"\xff" * 64, b"LSPACK 1 999999\n{", b"LSPACK 1 2\n[]", b"LSPACK 1 4\nnull"]
    for content in garbage:
        file.write_bytes(content)
        isolate = Isolate(h.deploy, h.site, h.clock)
        for _ in range(2):
            response = await isolate.request("/about")
            assert response.status == 200, content
            assert "request at" in body_text(response)  # rendered, not seeded
            isolate.handler.cache.clear()
            h.clock.advance(5)
        assert isolate.assets.log == [path]


async def test_a_pack_of_another_build_is_never_served(tmp_path: Path) -> None:
    """The Worker's code and its assets disagree (a half-finished deploy): the pack
    names another build, so it is refused and the page rendered."""
    first = await make_harness(tmp_path / "a")
    second = await make_harness(tmp_path / "b")
    mixed = Isolate(first.deploy, first.site, identity=second.deploy.identity())
    # Both builds list /about; with the same bucket count its pack has the same name.
    assert pack_path(second.deploy.identity(), "/about") == pack(first, "/about")
    response = await mixed.request("/about")
    assert response.status == 200 and "request at" in body_text(response)
    assert "different builds" in next(iter(mixed.handler.seeder.pack_errors.values()))


async def test_unlisted_paths_cause_no_asset_fetch(harness: Harness) -> None:
    for path in ["/blog/late", "/now", "/nope", "/blog/nope.json", "/a/b/c", "/%zz"]:
        await harness.get(path)
    assert harness.assets.log == []
    assert harness.handler.seeder.filtered >= 4


async def test_a_path_the_filter_lets_through_costs_one_fetch_per_isolate(
    harness: Harness,
) -> None:
    identity = harness.deploy.identity()
    stray = next(
        f"/stray-{n}"
        for n in range(100_000)
        if identity.filter.might_contain(RouteDigest.of(f"/stray-{n}"))
        and identity.holds_bucket(RouteDigest.of(f"/stray-{n}").bucket(identity.buckets))
    )
    for _ in range(3):
        response = await harness.get(stray)
        assert response.status == 404
    assert harness.assets.log == [pack_path(identity, stray)]


async def test_a_worker_without_a_build_renders_everything_and_fetches_nothing(
    tmp_path: Path,
) -> None:
    isolate = Isolate(None)
    response = await isolate.request("/about")
    assert response.status == 200 and response.headers["x-cache-status"] == "MISS"
    again = await isolate.request("/about")
    assert again.headers["x-cache-status"] == "HIT"
    assert isolate.assets.log == []


async def test_cache_write_that_raises_still_serves_the_seeded_page(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)

    def broken_set(key, entry):
        raise MemoryError("cache write failed")

    h.handler.cache.set = broken_set  # type: ignore[method-assign]
    response = await h.get("/about")
    assert response.status == 200
    assert "build at" in body_text(response)
    assert h.site.render_count() == 0
    rendered = await h.get("/blog/late")  # the render path's write fails too
    assert rendered.status == 200


async def test_on_demand_page_is_rendered_once_then_cached(harness: Harness) -> None:
    first = await harness.get("/blog/late")
    assert first.status == 200 and first.headers["x-cache-status"] == "MISS"
    second = await harness.get("/blog/late")
    assert second.headers["x-cache-status"] == "HIT" and second.body == first.body
    assert harness.site.render_count("/blog/late") == 1


async def test_dynamic_page_is_never_cached(harness: Harness) -> None:
    await harness.get("/now")
    harness.clock.advance(1)
    second = await harness.get("/now")
    assert second.headers["x-cache-status"] == "MISS"
    # Two renders for the first request (the canonical one said dynamic, then the
    # client's own), one for the second (the route is known to render per request).
    assert harness.site.render_count("/now") == 3


async def test_unknown_page_is_404_and_not_cached(harness: Harness) -> None:
    response = await harness.get("/missing")
    assert response.status == 404
    await harness.get("/missing")
    assert harness.site.render_count("/missing") == 2


async def test_private_prefix_answers_404_in_every_spelling(harness: Harness) -> None:
    for path in [
        "/__prerender/packs/0.bin",
        "/%5F%5Fprerender/packs/0.bin",
        "//__prerender/x",
        "/a/../__prerender/x",
        "/__PRERENDER/x",
        "/%255F_prerender/x",
    ]:
        response = await harness.get(path)
        assert response.status == 404, path
    assert harness.assets.log == []
    assert harness.site.render_count() == 0


async def test_seeding_an_evicted_route_again_fetches_it_again(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, max_bytes=1000)
    await h.get("/about")
    await h.get("/blog")
    await h.get("/")
    assert h.handler.cache.bytes_used <= 1000
    assert h.handler.cache.stats.evictions >= 1
    before = len(h.assets.log)
    again = await h.get("/about")
    assert again.headers["x-cache-status"] == "HIT"
    assert h.assets.log[before:] == [pack(h, "/about")]


async def test_lru_budget_holds_over_many_routes(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, max_bytes=4096)
    for i in range(200):
        await h.get(f"/missing-{i}")
        await h.get("/blog/late")
        await h.get(["/", "/about", "/blog", "/blog/first"][i % 4])
        assert h.handler.cache.bytes_used <= 4096


async def test_a_renderer_that_raises_answers_500_not_a_crash(harness: Harness) -> None:
    harness.site.fail_routes.add("/blog/late")
    response = await harness.get("/blog/late")
    assert response.status == 500
    assert response.headers["cache-control"].startswith("private")


async def test_other_methods_go_to_the_renderer_with_their_body_and_are_never_cached(
    harness: Harness,
) -> None:
    response = await harness.isolate.request("/about", method="POST", body=b"a=1", drain=False)
    assert response.headers["x-cache-status"] == "MISS"
    assert response.headers["cache-control"].startswith("private")
    request = harness.site.requests[-1]
    assert (request.method, request.body) == ("POST", b"a=1")
    assert harness.assets.log == []
    assert len(harness.handler.cache) == 0

"""The request flow against a fake asset store: seeding, the cache, failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from seeding.config import SiteConfig
from seeding.routes import MANIFEST_FILE, Variant, variant_file
from tests.unit.conftest import Harness, make_harness
from tests.unit.fakes import Fault

MANIFEST = "meta/manifest.json"


def body_text(response) -> str:
    return response.body.decode()


async def test_first_request_is_seeded_without_rendering_then_hits_without_fetching(
    harness: Harness,
) -> None:
    first = await harness.get("/about")
    assert first.status == 200
    assert "build at" in body_text(first)  # the prerendered page, not a render
    assert first.headers["x-cache-status"] == "HIT"
    assert harness.site.render_count() == 0
    fetched = len(harness.assets.log)
    assert harness.assets.fetches(variant_file("/about", Variant.HTML)) == 1

    second = await harness.get("/about")
    assert second.body == first.body
    assert second.headers["x-cache-status"] == "HIT"
    assert len(harness.assets.log) == fetched
    assert harness.site.render_count() == 0


async def test_index_route_is_seeded(harness: Harness) -> None:
    response = await harness.get("/")
    assert response.status == 200
    assert "<h1>/</h1>" in body_text(response)
    assert harness.site.render_count() == 0
    assert harness.assets.fetches(variant_file("/", Variant.HTML)) == 1


async def test_data_variant_is_served_from_its_suffix_with_json_type(harness: Harness) -> None:
    response = await harness.get("/blog/first.json")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body)["route"] == "/blog/first"
    root = await harness.get("/index.json")
    assert json.loads(root.body)["route"] == "/"
    assert harness.site.render_count() == 0


async def test_query_string_is_ignored_for_the_route(harness: Harness) -> None:
    a = await harness.get("/about?utm=1")
    b = await harness.get("/about?other=2")
    assert a.body == b.body
    assert harness.assets.fetches(variant_file("/about", Variant.HTML)) == 1


async def test_trailing_slash_off_redirects_slashed_paths_to_canonical(harness: Harness) -> None:
    response = await harness.get("/about/?x=1")
    assert response.status == 308
    assert response.headers["location"] == "/about?x=1"
    assert harness.assets.log == []


async def test_trailing_slash_on_serves_slashed_and_redirects_bare(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, SiteConfig(trailing_slash=True))
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
    h = await make_harness(tmp_path, SiteConfig(base_path="/docs"))
    page = await h.get("/docs/about")
    assert page.status == 200 and page.headers["x-cache-status"] == "HIT"
    home = await h.get("/docs")
    assert home.status == 200 and "<h1>/</h1>" in body_text(home)
    outside = await h.get("/about")
    assert outside.status == 404
    assert h.assets.fetches(variant_file("/about", Variant.HTML)) == 1


async def test_percent_encoded_paths_resolve_to_the_same_route(harness: Harness) -> None:
    response = await harness.get("/%61bout")
    assert response.status == 200
    assert harness.assets.fetches(variant_file("/about", Variant.HTML)) == 1


async def test_fifty_concurrent_cold_requests_fetch_each_file_once(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    h.assets.yield_steps = 5
    responses = await asyncio.gather(*(h.get("/blog/first") for _ in range(50)))
    assert {r.status for r in responses} == {200}
    assert len({r.body for r in responses}) == 1
    assert h.assets.fetches(variant_file("/blog/first", Variant.HTML)) == 1
    assert h.assets.fetches(MANIFEST) == 1
    assert h.site.render_count() == 0


async def test_concurrent_requests_with_real_delays_still_fetch_once(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)

    async def slow(_path: str) -> None:
        await asyncio.sleep(0.01)

    h.assets.on_fetch = slow
    mixed = ["/blog/first", "/blog/first.json"] * 25
    responses = await asyncio.gather(*(h.get(p) for p in mixed))
    assert all(r.status == 200 for r in responses)
    assert h.assets.fetches(variant_file("/blog/first", Variant.HTML)) == 1
    assert h.assets.fetches(variant_file("/blog/first", Variant.DATA)) == 1


async def test_one_manifest_fetch_serves_many_routes(harness: Harness) -> None:
    for path in ["/", "/about", "/blog", "/blog/first", "/blog/second", "/about.json"]:
        assert (await harness.get(path)).status == 200
    assert harness.assets.fetches(MANIFEST) == 1


async def test_transient_manifest_failure_is_retried_by_a_later_request(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    h.assets.faults[MANIFEST] = Fault("status", 503, times=1)
    first = await h.get("/about")
    assert first.status == 200 and first.headers["x-cache-status"] == "MISS"  # rendered
    assert h.site.render_count("/about") == 1
    h.clock.advance(2)
    second = await h.get("/about")
    assert second.headers["x-cache-status"] == "HIT"
    assert "build at" in body_text(second)
    assert h.assets.fetches(MANIFEST) == 2


async def test_manifest_fetch_that_raises_is_retried(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    h.assets.faults[MANIFEST] = Fault("raise", times=1)
    assert (await h.get("/about")).status == 200
    h.clock.advance(2)
    assert (await h.get("/about")).headers["x-cache-status"] == "HIT"


async def test_manifest_404_is_not_retried(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    (h.assets.root / MANIFEST_FILE).unlink()
    for _ in range(3):
        h.clock.advance(10)
        response = await h.get("/about")
        assert response.status == 200
    assert h.assets.fetches(MANIFEST) == 1
    assert "404" in (h.index.permanent_error or "")
    assert h.site.render_count("/about") == 1  # rendered once, then cached


async def test_invalid_manifest_json_is_not_retried(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    (h.assets.root / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    for _ in range(3):
        h.clock.advance(10)
        assert (await h.get("/blog/first")).status == 200
    assert h.assets.fetches(MANIFEST) == 1
    assert "not valid JSON" in (h.index.permanent_error or "")


async def test_unknown_schema_version_is_not_retried(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    path = h.assets.root / MANIFEST_FILE
    raw = json.loads(path.read_text())
    raw["version"] = 99
    path.write_text(json.dumps(raw))
    assert (await h.get("/about")).status == 200
    h.clock.advance(10)
    assert (await h.get("/")).status == 200
    assert h.assets.fetches(MANIFEST) == 1
    assert "version" in (h.index.permanent_error or "")


async def test_asset_fetch_that_raises_falls_back_to_the_renderer(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    file = variant_file("/blog/first", Variant.HTML)
    h.assets.faults[file] = Fault("raise", times=1)
    first = await h.get("/blog/first")
    assert first.status == 200
    assert "request at" in body_text(first)  # rendered, not seeded
    assert h.site.render_count("/blog/first") == 1


async def test_asset_body_that_fails_to_read_is_retried_later(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    file = variant_file("/about", Variant.HTML)
    h.assets.faults[file] = Fault("bad-body", times=1)
    assert (await h.get("/about")).status == 200
    h.handler.cache.clear()
    again = await h.get("/about")
    assert "build at" in body_text(again)
    assert h.assets.fetches(file) == 2


async def test_asset_404_is_remembered_for_the_isolate(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    file = variant_file("/about", Variant.HTML)
    (h.assets.root / file).unlink()
    for _ in range(3):
        assert (await h.get("/about")).status == 200
        h.handler.cache.clear()
    assert h.assets.fetches(file) == 1


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


async def test_missing_data_variant_does_not_stop_html_from_seeding(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    (h.assets.root / variant_file("/blog/second", Variant.DATA)).unlink()
    html = await h.get("/blog/second")
    assert html.headers["x-cache-status"] == "HIT" and "build at" in body_text(html)
    data = await h.get("/blog/second.json")
    assert data.status == 200
    assert json.loads(data.body)["phase"] == "request"  # rendered instead


async def test_failed_data_fetch_is_retried_on_a_later_request(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    file = variant_file("/blog/first", Variant.DATA)
    h.assets.faults[file] = Fault("status", 500, times=1)
    assert (await h.get("/blog/first")).headers["x-cache-status"] == "HIT"
    first = await h.get("/blog/first.json")
    assert json.loads(first.body)["phase"] == "request"
    h.handler.cache.clear()  # as if evicted; the render path's copy goes too
    second = await h.get("/blog/first.json")
    assert json.loads(second.body)["phase"] == "build"
    assert h.assets.fetches(file) == 2


async def test_unlisted_paths_cause_no_asset_fetch(harness: Harness) -> None:
    await harness.get("/about")  # loads the manifest
    before = list(harness.assets.log)
    for path in ["/blog/late", "/now", "/nope", "/blog/nope.json", "/a/b/c", "/%zz"]:
        await harness.get(path)
    assert harness.assets.log == before


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
    assert harness.site.render_count("/now") == 2


async def test_unknown_page_is_404_and_not_cached(harness: Harness) -> None:
    response = await harness.get("/missing")
    assert response.status == 404
    await harness.get("/missing")
    assert harness.site.render_count("/missing") == 2


async def test_private_prefix_answers_404_in_every_spelling(harness: Harness) -> None:
    for path in [
        "/__prerender/meta/manifest.json",
        "/%5F%5Fprerender/meta/manifest.json",
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
    await h.get("/about")
    assert h.assets.fetches(variant_file("/about", Variant.HTML)) == 2


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


async def test_post_is_not_allowed(harness: Harness) -> None:
    response = await harness.get("/about", method="POST")
    assert response.status == 405
    assert harness.assets.log == []

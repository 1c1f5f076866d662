"""Incremental regeneration, cache headers, conditional requests and privacy, with an
injected clock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from seeding.config import SiteConfig
from seeding.flow.policy import DYNAMIC_CACHE_CONTROL
from tests.unit.conftest import Harness, make_harness


def phase(response) -> str:
    return json.loads(response.body)["phase"]


async def test_fresh_page_hits_then_stale_is_served_at_once_and_regenerated(
    harness: Harness,
) -> None:
    first = await harness.get("/blog/first")
    assert first.headers["x-cache-status"] == "HIT"
    harness.clock.advance(61)  # the build was 1 s before the harness started
    harness.site.version = 2
    stale = await harness.get("/blog/first")
    assert stale.headers["x-cache-status"] == "STALE"
    assert stale.headers["x-nextjs-cache"] == "STALE"
    assert stale.body == first.body  # the old page, at once
    assert len(harness.wait_until.pending) == 1
    assert harness.site.render_count() == 0  # nothing rendered on the request path
    await harness.wait_until.drain()
    fresh = await harness.get("/blog/first")
    assert fresh.headers["x-cache-status"] == "HIT"
    assert b"v2" in fresh.body and b"request at" in fresh.body


async def test_seeded_page_older_than_revalidate_regenerates_on_first_use(harness: Harness) -> None:
    harness.clock.advance(3600)
    response = await harness.get("/blog/first.json")
    assert response.headers["x-cache-status"] == "STALE"
    assert phase(response) == "build"
    await harness.wait_until.drain()
    assert phase(await harness.get("/blog/first.json")) == "request"


async def test_never_revalidated_pages_stay_fresh(harness: Harness) -> None:
    await harness.get("/about")
    harness.clock.advance(10 * 365 * 24 * 3600)
    response = await harness.get("/about")
    assert response.headers["x-cache-status"] == "HIT"
    assert harness.wait_until.pending == []


async def test_past_expire_the_page_is_rendered_synchronously(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, SiteConfig(expire=300))
    assert (await h.get("/blog/first")).headers["x-cache-status"] == "HIT"
    h.clock.advance(301)
    response = await h.get("/blog/first")
    assert response.headers["x-cache-status"] == "MISS"
    assert b"request at" in response.body
    assert h.wait_until.pending == []


async def test_twenty_concurrent_stale_requests_cause_one_regeneration(harness: Harness) -> None:
    await harness.get("/blog/second")
    harness.clock.advance(120)
    responses = await asyncio.gather(*(harness.get("/blog/second") for _ in range(20)))
    assert {r.headers["x-cache-status"] for r in responses} == {"STALE"}
    assert len(harness.wait_until.pending) == 1
    await harness.wait_until.drain()
    assert harness.site.render_count("/blog/second") == 1


async def test_failed_regeneration_keeps_the_last_good_page_and_backs_off(
    harness: Harness, caplog
) -> None:
    good = await harness.get("/blog/first")
    harness.clock.advance(120)
    harness.site.fail_routes.add("/blog/first")
    await harness.get("/blog/first")
    await harness.wait_until.drain()
    assert "regeneration of" in caplog.text and "renderer broke" in caplog.text
    again = await harness.get("/blog/first")
    assert again.status == 200 and again.body == good.body
    assert again.headers["x-cache-status"] == "STALE"
    assert harness.wait_until.pending == []  # backing off: no new attempt yet
    harness.clock.advance(3)
    harness.site.fail_routes.clear()
    await harness.get("/blog/first")
    assert len(harness.wait_until.pending) == 1
    await harness.wait_until.drain()
    assert (await harness.get("/blog/first")).headers["x-cache-status"] == "HIT"


async def test_regeneration_that_finds_the_page_gone_stops_serving_it(harness: Harness) -> None:
    await harness.get("/blog/first")
    harness.clock.advance(120)
    harness.site.site_routes = lambda: []  # type: ignore[method-assign]
    harness.site.render = _not_found(harness.site.render)  # type: ignore[method-assign]
    await harness.get("/blog/first")
    await harness.wait_until.drain()
    assert (await harness.get("/blog/first")).status == 404


def _not_found(render):
    async def wrapped(request):
        result = await render(request)
        from seeding.rendering import RenderResult

        return RenderResult(404, result.headers, b"gone")

    return wrapped


async def test_cache_control_follows_nextjs(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, SiteConfig(expire=3600))
    isr = await h.get("/blog/first")
    assert isr.headers["cache-control"] == "s-maxage=60, stale-while-revalidate=3540"
    static = await h.get("/about")
    assert static.headers["cache-control"] == "s-maxage=31536000"
    dynamic = await h.get("/now")
    assert dynamic.headers["cache-control"] == DYNAMIC_CACHE_CONTROL
    missing = await h.get("/nope")
    assert missing.headers["cache-control"] == DYNAMIC_CACHE_CONTROL


async def test_cacheable_responses_carry_an_etag_and_answer_if_none_match_with_304(
    harness: Harness,
) -> None:
    page = await harness.get("/about")
    etag = page.headers["etag"]
    assert etag.startswith('"')
    not_modified = await harness.get("/about", {"if-none-match": etag})
    assert not_modified.status == 304 and not_modified.body == b""
    assert not_modified.headers["etag"] == etag
    weak = await harness.get("/about", {"if-none-match": f'"other", W/{etag}'})
    assert weak.status == 304
    changed = await harness.get("/about", {"if-none-match": '"other"'})
    assert changed.status == 200 and changed.body == page.body
    rendered = await harness.get("/blog/late")
    assert "etag" in rendered.headers


async def test_head_is_answered_from_the_cache_without_a_body(harness: Harness) -> None:
    get = await harness.get("/blog/first")
    head = await harness.get("/blog/first", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["x-cache-status"] == "HIT"
    assert harness.site.render_count() == 0


async def test_responses_marked_private_or_setting_cookies_are_never_cached(
    harness: Harness,
) -> None:
    for headers in (
        {"set-cookie": "a=1"},
        {"cache-control": "private"},
        {"cache-control": "no-store"},
    ):
        harness.site.extra_headers = headers
        harness.site.renders.clear()
        harness.handler.cache.clear()
        harness.handler.per_request.clear()
        await harness.get("/blog/late")
        second = await harness.get("/blog/late")
        assert second.headers["x-cache-status"] == "MISS", headers
        # The canonical render and then the client's own for the first request, the
        # client's alone for the second.
        assert harness.site.render_count("/blog/late") == 3, headers


async def test_requests_with_credentials_bypass_the_shared_cache(harness: Harness) -> None:
    shared = await harness.get("/blog/first")
    for headers in (
        {"authorization": "Bearer x"},
        {"cookie": "session=abc; theme=dark"},
        {"cookie": "__Host-id=1"},
    ):
        response = await harness.get("/blog/first", headers)
        assert response.body != shared.body, headers  # rendered for them, not the cached copy
        assert response.headers["cache-control"] == DYNAMIC_CACHE_CONTROL
    # Nothing they caused was stored: the on-demand page is still uncached for others.
    await harness.get("/blog/late", {"authorization": "Bearer x"})
    anonymous = await harness.get("/blog/late")
    assert anonymous.headers["x-cache-status"] == "MISS"
    assert harness.site.render_count("/blog/late") == 2


async def test_harmless_cookies_still_get_the_cached_page(harness: Harness) -> None:
    shared = await harness.get("/about")
    with_cookie = await harness.get("/about", {"cookie": "theme=dark; _ga=1"})
    assert with_cookie.body == shared.body
    assert with_cookie.headers["x-cache-status"] == "HIT"


async def test_time_is_read_from_the_injected_clock(harness: Harness) -> None:
    harness.clock.now = 1_900_000_000.0
    response = await harness.get("/now")
    assert b"1900000000.0" in response.body

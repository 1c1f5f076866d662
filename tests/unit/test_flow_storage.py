"""The storage decision, once per path that feeds it: a render on request, a
regeneration (its 404 too), a KV value, a seeded record. Each path is shown a page the
decision refuses (a cookie, `private`, `no-store`, a `Vary`, a compressed body) and
must neither store nor serve it from the cache; and a page it allows, which it must."""

from __future__ import annotations

from pathlib import Path

import pytest

from seeding.config import SiteConfig
from seeding.primitives.cache import CacheEntry, cache_key
from seeding.rendering import RenderRequest, RenderResult
from seeding.routes import Variant
from seeding.shared.kv_pages import PageStore
from seeding.shared.tier import SharedTier
from tests.unit.conftest import make_harness
from tests.unit.fakes import FakeClock, FakeSite
from tests.unit.fakes_shared import FakeKV
from tests.unit.support import Isolate, copy, prerender

REFUSED = [
    {"set-cookie": "sid=alice"},
    {"cache-control": "private, max-age=60"},
    {"cache-control": "no-store"},
    {"vary": "Accept-Encoding, Accept-Language"},
    {"vary": "Accept-Language"},
    {"content-encoding": "gzip"},
]


def leaked(response, headers: dict[str, str]) -> bool:
    """Whether the refused header reached the client from the cache."""
    status = response.headers.get("x-cache-status")
    return status in ("HIT", "STALE") and all(
        response.headers.get(name) == value for name, value in headers.items()
    )


@pytest.mark.parametrize("headers", REFUSED)
async def test_a_render_on_request_the_decision_refuses_is_not_stored(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    h = await make_harness(tmp_path)
    h.site.extra_headers = headers
    first = await h.get("/blog/late")
    second = await h.get("/blog/late")
    assert first.headers["x-cache-status"] == second.headers["x-cache-status"] == "MISS"
    assert cache_key(h.handler.build_id, Variant.HTML, "/blog/late") not in h.handler.cache
    h.site.extra_headers = {}
    h.handler.per_request.clear()
    await h.get("/blog/late")
    assert (await h.get("/blog/late")).headers["x-cache-status"] == "HIT"  # allowed: stored


async def test_an_on_request_404_is_answered_but_not_stored(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    for _ in range(2):
        assert (await h.get("/blog/missing")).status == 404
    assert h.site.render_count("/blog/missing") == 2
    assert len(h.handler.cache) == 0


@pytest.mark.parametrize("headers", REFUSED)
async def test_a_regeneration_the_decision_refuses_keeps_the_stale_page(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    h = await make_harness(tmp_path)
    built = await h.get("/blog/first")
    h.clock.advance(61)
    h.site.extra_headers = headers
    assert (await h.get("/blog/first")).headers["x-cache-status"] == "STALE"
    await h.wait_until.drain()
    assert h.site.render_count("/blog/first") == 1  # it did regenerate, and was refused
    again = await h.get("/blog/first")
    assert again.body == built.body and not leaked(again, headers)


def _gone(site: FakeSite, headers: dict[str, str]) -> None:
    async def render(request: RenderRequest) -> RenderResult:
        site.renders.append((request.route, request.variant, request.phase))
        return RenderResult(404, {"content-type": "text/html", **headers}, b"gone")

    site.render = render  # type: ignore[method-assign]


@pytest.mark.parametrize("headers", REFUSED)
async def test_a_regeneration_to_a_404_goes_through_the_decision(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    h = await make_harness(tmp_path)
    await h.get("/blog/first")
    h.clock.advance(61)
    _gone(h.site, headers)
    await h.get("/blog/first")
    await h.wait_until.drain()
    again = await h.get("/blog/first")
    assert again.status == 200 and not leaked(again, headers)  # the stale page, not the 404


async def test_a_regenerated_404_keeps_the_window_of_the_page_it_replaces_even_if_evicted(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path)
    await h.get("/blog/first")
    h.clock.advance(61)
    _gone(h.site, {})
    await h.get("/blog/first")  # STALE: the regeneration is queued, not run
    h.handler.cache.clear()  # the stale page is evicted before the regeneration runs
    await h.wait_until.drain()
    key = cache_key(h.handler.build_id, Variant.HTML, "/blog/first")
    stored = h.handler.cache.peek(key)
    assert stored is not None and stored.status == 404
    assert stored.revalidate == 60  # the stale page's, not None (stored for good)
    h.clock.advance(61)
    assert (await h.get("/blog/first")).headers["x-cache-status"] == "STALE"
    await h.wait_until.drain()


async def _kv_deployment(tmp_path: Path, headers: dict[str, str]):
    clock = FakeClock()
    deploy = copy(await prerender(FakeSite(), tmp_path / "build", clock), tmp_path / "public")
    clock.advance(1)
    kv = FakeKV()
    shared = SharedTier(PageStore(kv))
    isolate = Isolate(deploy, FakeSite(), clock, shared=shared)
    entry = CacheEntry(
        body=b"<p>from KV</p>",
        status=200,
        headers={"content-type": "text/html", **headers},
        generated_at=clock(),
        revalidate=60,
    )
    await PageStore(kv).write(isolate.handler.build_id, Variant.HTML, "/blog/late", entry, clock())
    return isolate


@pytest.mark.parametrize("headers", REFUSED)
async def test_a_kv_value_the_decision_refuses_is_never_served(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    isolate = await _kv_deployment(tmp_path, headers)
    response = await isolate.request("/blog/late")
    assert b"from KV" not in response.body and not leaked(response, headers)
    assert isolate.site.render_count("/blog/late") >= 1  # rendered instead


async def test_a_kv_value_the_decision_allows_is_served(tmp_path: Path) -> None:
    isolate = await _kv_deployment(tmp_path, {})
    response = await isolate.request("/blog/late")
    assert response.headers["x-cache-status"] == "HIT" and b"from KV" in response.body
    assert isolate.site.render_count() == 0


@pytest.mark.parametrize("headers", REFUSED)
async def test_a_seeded_record_the_decision_refuses_is_never_served(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    built_with = FakeSite()
    built_with.extra_headers = headers  # the build recorded them with the page
    clock = FakeClock()
    deploy = copy(await prerender(built_with, tmp_path / "build", clock), tmp_path / "public")
    clock.advance(1)
    isolate = Isolate(deploy, FakeSite(), clock)
    response = await isolate.request("/about")
    assert b"build at" not in response.body and not leaked(response, headers)
    assert isolate.site.render_count("/about") == 1  # the clean render, stored instead
    assert (await isolate.request("/about")).headers["x-cache-status"] == "HIT"


async def test_a_seeded_record_over_the_budget_is_served_no_store_and_never_seeded_again(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path, SiteConfig(data_variant=True), max_bytes=300)
    first = await h.get("/about")
    assert first.status == 200 and "no-store" in first.headers["cache-control"]
    fetches = len(h.assets.log)
    for _ in range(3):
        again = await h.get("/about")
        assert again.headers["x-cache-status"] == "MISS"
        assert "no-store" in again.headers["cache-control"]
    assert len(h.assets.log) == fetches  # remembered: no seed, no KV, no regeneration
    assert h.wait_until.pending == []
    assert h.handler.cache.bytes_used <= 300

"""Freshness in the flow and the smaller defects of issue 16, each shown by what a
client would notice: a page stamped when its render started, a store that never
replaces a fresher page, 304 for 2xx pages only, no page stored for good after a
transient seed failure, a cancelled regeneration that releases its lease, a page too
large for the memory cache served `no-store` without a regeneration loop, and the front
door that routes the revalidation endpoint and answers the project's own 500."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from seeding.flow.policy import DYNAMIC_CACHE_CONTROL
from seeding.flow.storable import Refusal, Source
from seeding.flow.store import PageStore
from seeding.front import Front, Revalidation
from seeding.http import Request
from seeding.primitives.cache import CacheEntry, MemoryCache, cache_key
from seeding.rendering import RenderRequest, RenderResult
from seeding.routes import Variant, resolve_request_path
from seeding.shared.kv_pages import PageStore as KvPages
from seeding.shared.regen_lease import RegenerationLease
from seeding.shared.tag_clock import RevalidationMode, TagClock
from seeding.shared.tier import SharedTier
from tests.unit.conftest import make_harness
from tests.unit.fakes import FakeClock, Fault
from tests.unit.fakes_shared import FakeKV, SqliteD1, migrated_database
from tests.unit.support import pack_path

MAX_AGE = 5.0


def entry(generated_at: float, body: bytes = b"page", status: int = 200) -> CacheEntry:
    return CacheEntry(body, status, {"content-type": "text/html"}, generated_at, revalidate=60)


async def test_a_revalidation_that_lands_during_a_render_makes_that_page_stale(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path)
    db = migrated_database()
    tags = TagClock(SqliteD1(db), max_age=MAX_AGE, since=0.0)
    h.handler.shared = h.handler.lookup.shared = SharedTier(None, tags, None)
    render = h.site.render

    async def slow_render(request: RenderRequest) -> RenderResult:
        if request.route == "/blog/late" and h.site.render_count("/blog/late") == 0:
            h.clock.advance(1)
            await tags.revalidate(["/blog/late"], [], RevalidationMode.EXPIRE, h.clock())
            h.clock.advance(1)
        return await render(request)

    h.site.render = slow_render  # type: ignore[method-assign]
    first = await h.get("/blog/late")
    assert first.headers["x-cache-status"] == "MISS"
    h.clock.advance(MAX_AGE + 1)  # the snapshot is past its bound: refreshed first
    second = await h.get("/blog/late")
    assert second.headers["x-cache-status"] == "MISS"  # not the page made before the mark
    assert second.body != first.body


def test_the_store_never_replaces_a_fresher_page() -> None:
    store = PageStore(MemoryCache(1 << 20), FakeClock())
    fresher = entry(200.0, b"regenerated")
    assert store.admit("k", fresher, Source.REGENERATION) is fresher
    older = entry(100.0, b"looked up before")
    assert store.admit("k", older, Source.SHARED) is fresher
    assert store.cache.peek("k") is fresher
    store.drop("k", older)  # a lookup that judged its own copy expired
    assert store.cache.peek("k") is fresher
    store.drop("k", fresher)
    assert store.cache.peek("k") is None


def test_the_store_answers_the_refusal_and_stores_nothing() -> None:
    store = PageStore(MemoryCache(1 << 20), FakeClock())
    refused = store.admit("k", entry(1.0, status=302), Source.RENDER)
    assert isinstance(refused, Refusal) and "302" in str(refused)
    assert len(store.cache) == 0


async def test_if_none_match_gets_304_for_a_200_page_only(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    page = await h.get("/about")
    assert (await h.get("/about", {"if-none-match": page.headers["etag"]})).status == 304
    key = cache_key(h.handler.build_id, Variant.HTML, "/blog/gone")
    h.handler.cache.set(key, entry(h.clock(), b"gone", status=404))
    for condition in ("*", h.handler.cache.peek(key).etag):
        gone = await h.get("/blog/gone", {"if-none-match": condition})
        assert gone.status == 404 and gone.body == b"gone"


async def test_a_render_after_a_transient_seed_failure_is_not_stored_and_the_seed_is_retried(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path)
    h.assets.faults[pack_path(h.deploy.identity(), "/about")] = Fault("raise", times=1)
    stopgap = await h.get("/about")
    assert stopgap.status == 200 and b"request at" in stopgap.body
    assert stopgap.headers["cache-control"] == DYNAMIC_CACHE_CONTROL  # not for a year
    assert len(h.handler.cache) == 0
    h.clock.advance(2)  # past the pack's retry interval
    later = await h.get("/about")
    assert later.headers["x-cache-status"] == "HIT" and b"build at" in later.body


async def test_a_cancelled_regeneration_releases_its_lease(tmp_path: Path) -> None:
    h = await make_harness(tmp_path)
    db = migrated_database()
    shared = SharedTier(None, None, RegenerationLease(SqliteD1(db)), holder="a")
    h.handler.shared = h.handler.regeneration.shared = shared
    await h.get("/blog/first")
    h.clock.advance(61)
    key = cache_key(h.handler.build_id, Variant.HTML, "/blog/first")
    stale = h.handler.cache.peek(key)
    assert stale is not None

    async def cancelled(request: RenderRequest) -> RenderResult:
        raise asyncio.CancelledError

    h.site.render = cancelled  # type: ignore[method-assign]
    target = resolve_request_path("/blog/first", base_path="", trailing_slash=False)
    assert target is not None
    with pytest.raises(asyncio.CancelledError):
        await h.handler.regeneration.run(key, target, stale, None)
    other = SharedTier(None, None, RegenerationLease(SqliteD1(db)), holder="b")
    args = (h.handler.build_id, Variant.HTML, "/blog/first", stale, h.clock())
    assert await other.may_regenerate(*args)  # released: another isolate may go at once


async def test_a_page_too_large_to_store_is_served_no_store_without_a_regeneration_loop(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path, max_bytes=300)
    for _ in range(3):
        response = await h.get("/blog/late")
        assert response.status == 200 and response.headers["x-cache-status"] == "MISS"
        assert response.headers["cache-control"] == DYNAMIC_CACHE_CONTROL
        assert h.wait_until.pending == []  # nothing regenerates or writes in the background
        h.clock.advance(30)
    assert h.site.render_count("/blog/late") == 3  # one render per request, no more
    assert len(h.handler.cache) == 0


async def test_with_kv_a_page_too_large_to_store_is_rendered_once_per_window(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path, max_bytes=300)
    kv = FakeKV()
    shared = SharedTier(KvPages(kv))
    h.handler.shared = h.handler.lookup.shared = h.handler.regeneration.shared = shared
    first = await h.get("/blog/late")  # rendered, answered no-store, written to KV
    await h.wait_until.drain()
    assert len(kv.puts) == 1 and len(h.handler.cache) == 0
    window = 60  # FakeSite's /blog/late revalidates every 60 s
    answers = []
    for _ in range(5):
        h.clock.advance(window / 6)
        answers.append(await h.get("/blog/late"))
    assert h.site.render_count("/blog/late") == 1  # the KV copy answered, not a render
    for answer in answers:
        assert answer.body == first.body
        assert answer.headers["cache-control"] == DYNAMIC_CACHE_CONTROL
    assert len(h.handler.cache) == 0  # never held in memory
    h.clock.advance(window)  # the copy is stale: rendered again, once
    for _ in range(3):
        await h.get("/blog/late")
        await h.wait_until.drain()
    assert h.site.render_count("/blog/late") == 2


async def test_the_front_door_routes_the_endpoint_and_the_page_flow_does_not_know_it(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path)
    front = Front(h.handler, Revalidation("/__revalidate", "a-secret-of-16-chars"))
    request = Request(
        "POST",
        "https://site.example/__revalidate",
        {"authorization": "Bearer a-secret-of-16-chars", "content-type": "application/json"},
        json.dumps({"paths": ["/about"]}).encode(),
    )
    answer = await front.handle(request, h.isolate.bindings)
    assert answer.headers["content-type"] == "application/json"  # the endpoint answered
    assert h.site.render_count() == 0
    as_page = await h.handler.handle(request, h.isolate.bindings)
    assert as_page.headers["x-cache-status"] == "MISS"  # a page render to the flow alone


async def test_the_front_door_answers_its_own_500_when_anything_below_raises(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path)

    async def broken(request: Request, bindings: object) -> None:
        raise RuntimeError("a bug below the front door")

    h.handler.handle = broken  # type: ignore[assignment,method-assign]
    front = Front(h.handler, None)
    answer = await front.handle(Request("GET", "https://site.example/about"), h.isolate.bindings)
    assert answer.status == 500
    assert answer.headers["cache-control"] == DYNAMIC_CACHE_CONTROL


async def test_a_renderer_that_raises_gives_a_logged_500_from_the_page_flow_alone(
    tmp_path: Path,
) -> None:
    h = await make_harness(tmp_path)
    h.site.fail_routes.add("/blog/late")
    answer = await h.handler.handle(
        Request("GET", "https://site.example/blog/late"), h.isolate.bindings
    )
    assert answer.status == 500 and answer.headers["cache-control"] == DYNAMIC_CACHE_CONTROL

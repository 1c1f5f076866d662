"""The request flow with the shared tier: several isolates of one deploy sharing one KV
namespace (a dict) and one D1 database (a real sqlite3, migrated). What a user notices:
a page regenerated in one isolate is what the next isolate serves; a revalidation through
one isolate reaches the others within the tag-cache bound; one render per window across
isolates; and nothing the shared tier does (or fails to do) turns into a 5xx."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from seeding.front import Revalidation
from seeding.primitives.cache import CacheEntry
from seeding.routes import Variant
from seeding.shared.kv_pages import PageStore, encode_entry, page_key
from seeding.shared.regen_lease import RegenerationLease
from seeding.shared.tag_clock import TagClock
from seeding.shared.tier import SharedTier
from tests.unit.fakes import FakeClock, FakeSite
from tests.unit.fakes_shared import FakeKV, SqliteD1, migrated_database
from tests.unit.support import Deploy, Isolate, copy, prerender

SECRET = "s3cret-for-tests"
ENDPOINT = "/__revalidate"
MAX_AGE = 5.0


class Deployment:
    """One build, served by isolates that share one KV and one D1 (and one clock)."""

    def __init__(self, deploy: Deploy, clock: FakeClock) -> None:
        self.deploy = deploy
        self.clock = clock
        self.kv = FakeKV()
        self.db = migrated_database()
        self.d1_calls: list[SqliteD1] = []

    def isolate(self, name: str, *, kv: bool = True, d1: bool = True) -> Isolate:
        d1_view = SqliteD1(self.db)
        self.d1_calls.append(d1_view)
        shared = SharedTier(
            PageStore(self.kv) if kv else None,
            TagClock(d1_view, max_age=MAX_AGE, since=0.0) if d1 else None,
            RegenerationLease(d1_view) if d1 else None,
            holder=name,
        )
        return Isolate(
            self.deploy,
            FakeSite(),
            self.clock,
            shared=shared,
            revalidation=Revalidation(ENDPOINT, SECRET),
        )

    def d1_queries(self) -> int:
        return sum(len(view.calls) for view in self.d1_calls)


@pytest.fixture
async def deployment(tmp_path: Path) -> Deployment:
    clock = FakeClock()
    build = await prerender(FakeSite(), tmp_path / "build", clock)
    clock.advance(1)
    return Deployment(copy(build, tmp_path / "public"), clock)


def phase(response) -> str:
    return "build" if b"build at" in response.body else "request"


async def revalidate(isolate: Isolate, body: dict, secret: str = SECRET):
    return await isolate.request(
        ENDPOINT,
        {"authorization": f"Bearer {secret}", "content-type": "application/json"},
        method="POST",
        body=json.dumps(body).encode(),
    )


async def test_a_page_regenerated_in_one_isolate_is_what_the_next_isolate_serves(
    deployment: Deployment,
) -> None:
    a = deployment.isolate("a")
    deployment.clock.advance(61)  # the build's copy of the blog is past its 60 s
    stale = await a.request("/blog/first")
    assert stale.headers["x-cache-status"] == "STALE" and phase(stale) == "build"
    regenerated = await a.request("/blog/first")
    assert regenerated.headers["x-cache-status"] == "HIT" and phase(regenerated) == "request"

    b = deployment.isolate("b")
    first = await b.request("/blog/first")
    assert first.headers["x-cache-status"] == "HIT"
    assert first.body == regenerated.body  # A's page, not the build's
    assert b.site.renders == [] and b.assets.log == []  # from KV: no render, no seed


async def test_a_route_that_never_revalidates_is_seeded_without_asking_kv(
    deployment: Deployment,
) -> None:
    b = deployment.isolate("b")
    assert (await b.request("/about")).headers["x-cache-status"] == "HIT"
    assert deployment.kv.gets == [] and len(b.assets.log) == 1


async def test_a_memory_hit_touches_neither_kv_nor_d1(deployment: Deployment) -> None:
    a = deployment.isolate("a")
    await a.request("/blog/first")
    kv_calls, d1_calls = len(deployment.kv.gets) + len(deployment.kv.puts), deployment.d1_queries()
    for _ in range(20):
        response = await a.request("/blog/first", drain=False)
        assert response.headers["x-cache-status"] == "HIT"
        assert a.wait_until.pending == []  # no background work either, within the interval
        deployment.clock.advance(0.1)
    assert len(deployment.kv.gets) + len(deployment.kv.puts) == kv_calls
    assert deployment.d1_queries() == d1_calls
    deployment.clock.advance(MAX_AGE)
    hit = await a.request("/blog/first", drain=False)
    assert hit.headers["x-cache-status"] == "HIT"
    assert deployment.d1_queries() == d1_calls  # the refresh is not on the request path
    assert len(a.wait_until.pending) == 1
    await a.wait_until.drain()
    assert deployment.d1_queries() == d1_calls + 1  # one query per interval


async def test_a_new_build_never_serves_the_previous_builds_pages(
    deployment: Deployment, tmp_path: Path
) -> None:
    a = deployment.isolate("a")
    deployment.clock.advance(61)
    await a.request("/blog/first")  # regenerated and written to KV under this build
    assert any(key.startswith(f"pages/v1/{a.handler.build_id}/") for key in deployment.kv.values)
    build2 = await prerender(FakeSite(), tmp_path / "build2", deployment.clock)
    next_deploy = Deployment(copy(build2, tmp_path / "public2"), deployment.clock)
    next_deploy.kv = deployment.kv  # the same namespace
    fresh = next_deploy.isolate("c")
    response = await fresh.request("/blog/first")
    assert phase(response) == "build"  # build 2's copy, not build 1's regenerated page
    assert fresh.handler.build_id != a.handler.build_id


async def test_an_on_demand_render_is_written_to_kv_after_the_response(
    deployment: Deployment,
) -> None:
    a = deployment.isolate("a")
    response = await a.request("/blog/late", drain=False)
    assert response.headers["x-cache-status"] == "MISS"
    assert deployment.kv.puts == []  # not before the response
    await a.wait_until.drain()
    key = page_key(a.handler.build_id, Variant.HTML, "/blog/late")
    assert deployment.kv.puts == [key]
    assert deployment.kv.ttls[key] is not None  # derived from expire


async def test_dynamic_pages_are_not_written_and_not_looked_up_on_every_request(
    deployment: Deployment,
) -> None:
    a = deployment.isolate("a")
    for _ in range(5):
        await a.request("/now")
    assert deployment.kv.puts == []
    assert len(deployment.kv.gets) == 1  # then remembered as dynamic


async def test_one_render_per_window_across_four_isolates(deployment: Deployment) -> None:
    isolates = [deployment.isolate(name) for name in "abcd"]
    for isolate in isolates:
        assert phase(await isolate.request("/blog/first")) == "build"
    deployment.clock.advance(61)
    for isolate in isolates:
        response = await isolate.request("/blog/first", drain=False)
        assert response.headers["x-cache-status"] == "STALE"
    await asyncio.gather(*(isolate.wait_until.drain() for isolate in isolates))
    renders = sum(isolate.site.render_count("/blog/first") for isolate in isolates)
    assert renders == 1
    deployment.clock.advance(1.5)  # past the losers' pause: they find the winner's page
    for isolate in isolates:
        await isolate.request("/blog/first")
    bodies = {(await isolate.request("/blog/first")).body for isolate in isolates}
    assert len(bodies) == 1 and sum(i.site.render_count() for i in isolates) == 1


async def test_a_tag_revalidated_through_one_isolate_reaches_another_within_the_bound(
    deployment: Deployment,
) -> None:
    a, b = deployment.isolate("a"), deployment.isolate("b")
    for isolate in (a, b):
        assert (await isolate.request("/blog/first")).headers["x-cache-status"] == "HIT"
    answer = await revalidate(a, {"tags": ["post:first"]})
    assert answer.status == 200 and json.loads(answer.body)["tags"] == ["post:first"]
    deployment.clock.advance(0.01)  # the Workers clock moves on I/O between requests
    assert (await a.request("/blog/first")).headers["x-cache-status"] == "STALE"  # at once

    deployment.clock.advance(MAX_AGE)
    await b.request("/blog/first")  # B's snapshot is refreshed after this one
    seen = await b.request("/blog/first", drain=False)
    assert seen.headers["x-cache-status"] in ("STALE", "HIT")
    await b.wait_until.drain()
    after = await b.request("/blog/first")
    assert after.headers["x-cache-status"] == "HIT" and phase(after) == "request"


async def test_a_second_revalidation_within_the_window_regenerates_again(
    deployment: Deployment,
) -> None:
    a, b = deployment.isolate("a"), deployment.isolate("b")
    for n in (1, 2):
        await revalidate(a, {"paths": ["/blog/first"]})
        deployment.clock.advance(0.01)
        await a.request("/blog/first")  # stale, regenerated in the background
        assert a.site.render_count("/blog/first") == n
        deployment.clock.advance(1.1)  # KV takes one write a second per key
    deployment.clock.advance(MAX_AGE)
    await b.request("/about")  # refreshes B's snapshot
    response = await b.request("/blog/first")
    assert response.body == (await a.request("/blog/first")).body


async def test_expire_mode_makes_the_next_request_render(deployment: Deployment) -> None:
    a = deployment.isolate("a")
    await a.request("/about")
    answer = await revalidate(a, {"paths": ["/about"], "mode": "expire"})
    assert answer.status == 200
    response = await a.request("/about")
    assert response.headers["x-cache-status"] == "MISS" and phase(response) == "request"


async def test_a_new_isolate_does_not_serve_a_page_revalidated_before_it_started(
    deployment: Deployment,
) -> None:
    a = deployment.isolate("a")
    assert (await revalidate(a, {"paths": ["/blog/first"], "mode": "expire"})).status == 200
    b = deployment.isolate("b")
    response = await b.request("/blog/first")
    assert phase(response) == "request"


async def test_a_new_isolate_never_serves_a_page_that_never_revalidates_past_its_revalidation(
    deployment: Deployment,
) -> None:
    a = deployment.isolate("a")
    assert (await revalidate(a, {"paths": ["/about"], "mode": "expire"})).status == 200
    deployment.clock.advance(1)  # a render at the instant of the mark counts as before it
    b = deployment.isolate("b")
    queries = deployment.d1_queries()
    first = await b.request("/about", drain=False)
    assert phase(first) == "request"  # the build's copy was expired before it was served
    assert deployment.d1_queries() == queries + 1  # the snapshot, loaded once
    await b.wait_until.drain()
    assert (await b.request("/about")).headers["x-cache-status"] == "HIT"
    assert deployment.d1_queries() == queries + 1


@pytest.mark.parametrize(
    ("body", "secret", "status"),
    [
        ({"tags": ["x"]}, "wrong", 401),
        ({"tags": ["x"]}, "", 401),
        ({"tags": ["t"] * 129}, SECRET, 400),
        ({"tags": ["x" * 257]}, SECRET, 400),
        ({"paths": ["relative"]}, SECRET, 400),
    ],
)
async def test_a_refused_revalidation_changes_nothing(
    deployment: Deployment, body: dict, secret: str, status: int
) -> None:
    a = deployment.isolate("a")
    answer = await revalidate(a, body, secret)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body)["error"]
    assert deployment.db.execute("SELECT COUNT(*) FROM revalidations").fetchone()[0] == 0


async def test_without_d1_a_revalidation_is_refused_with_503(deployment: Deployment) -> None:
    a = deployment.isolate("a", d1=False)
    answer = await revalidate(a, {"tags": ["x"]})
    assert answer.status == 503 and answer.headers["retry-after"]


async def test_kv_and_d1_failures_never_give_a_5xx(deployment: Deployment) -> None:
    deployment.kv.get_error = RuntimeError("KV GET failed: 500")
    deployment.kv.put_error = RuntimeError("KV PUT failed: 429 Too Many Requests")
    a = deployment.isolate("a")
    for view in deployment.d1_calls:
        view.error = RuntimeError("D1_ERROR: database unavailable")
    deployment.clock.advance(61)
    for path in ["/blog/first", "/about", "/blog/late", "/now", "/missing"]:
        response = await a.request(path)
        assert response.status < 500, path
    assert phase(await a.request("/blog/first")) == "request"  # regenerated locally


async def test_a_kv_that_never_answers_delays_a_request_by_its_timeout_only(
    deployment: Deployment,
) -> None:
    deployment.kv.hang = True
    a = deployment.isolate("a")
    a.handler.shared.pages._read_timeout = 0.05  # type: ignore[union-attr]
    a.handler.shared.pages._write_timeout = 0.05  # type: ignore[union-attr]
    response = await asyncio.wait_for(a.request("/blog/late", drain=False), 5)
    assert response.status == 200 and response.headers["x-cache-status"] == "MISS"
    await asyncio.wait_for(a.wait_until.drain(), 5)  # the write gives up too


@pytest.mark.parametrize("generated_at", [math.nan, math.inf, 4_000_000_000.0])
async def test_a_kv_page_with_an_impossible_time_is_never_served_even_after_an_expire(
    deployment: Deployment, generated_at: float
) -> None:
    a = deployment.isolate("a")
    build_id = deployment.deploy.identity().build_id
    planted = CacheEntry(
        body=b"<p>planted</p>",
        status=200,
        headers={"content-type": "text/html"},
        generated_at=generated_at,
        revalidate=60,
        expire=3600,
        tags=("post:first",),
    )
    deployment.kv.values[page_key(build_id, Variant.HTML, "/blog/first")] = encode_entry(planted)
    answer = await revalidate(
        a, {"paths": ["/blog/first"], "tags": ["post:first"], "mode": "expire"}
    )
    assert answer.status == 200
    for isolate in (a, deployment.isolate("b")):
        response = await isolate.request("/blog/first")
        assert b"planted" not in response.body
        assert response.status == 200

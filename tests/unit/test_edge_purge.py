"""Revalidations reach the edge: `expire` purges and `stale` invalidates the pages' tags
and path tags through `ctx.cache`; a purge that fails or is rate limited is logged and
retried with back-off in the background while D1 stays the record; the endpoint's answer
says what reached D1 and what reached the edge; without an edge nothing changes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from seeding.edge.purge import EdgePurger, PurgeResult
from seeding.edge.tags import path_tag
from seeding.flow.handler import Bindings
from seeding.front import Revalidation
from seeding.shared.tag_clock import RevalidationMode, TagClock
from seeding.shared.tier import SharedTier
from tests.unit.fakes import FakeClock, FakeSite, WaitUntil
from tests.unit.fakes_edge import RATE_LIMITED, FakeEdgeCache, Pauses
from tests.unit.fakes_shared import SqliteD1, migrated_database
from tests.unit.support import Isolate, deploy_once

SECRET = "edge-secret"
ENDPOINT = "/__revalidate"


def purger(cache: FakeEdgeCache, wait_until: WaitUntil, pauses: Pauses) -> EdgePurger:
    return EdgePurger(cache, wait_until, FakeClock(), sleep=pauses)


async def test_expire_purges_the_tags_and_the_path_tags() -> None:
    cache, waits, pauses = FakeEdgeCache(), WaitUntil(), Pauses()
    report = await purger(cache, waits, pauses).revalidate(
        ["/blog/a"], ["Posts"], RevalidationMode.EXPIRE
    )
    assert report.reached and waits.pending == []
    assert cache.calls[0][0] == "purge"
    assert cache.tags_sent() == ["posts", path_tag("/blog/a")]
    assert cache.calls[0][1].path_prefixes == ()  # exact paths, no prefix over-purge


async def test_stale_invalidates_so_unchanged_pages_cost_a_validator_check() -> None:
    cache = FakeEdgeCache()
    report = await purger(cache, WaitUntil(), Pauses()).revalidate(
        ["/blog/a"], [], RevalidationMode.STALE
    )
    assert report.reached and [m for m, _ in cache.calls] == ["invalidate"]


async def test_many_names_go_in_calls_of_at_most_a_hundred_tags() -> None:
    cache = FakeEdgeCache()
    tags = [f"t{n}" for n in range(128)]
    paths = [f"/p/{n}" for n in range(128)]
    await purger(cache, WaitUntil(), Pauses()).revalidate(paths, tags, RevalidationMode.EXPIRE)
    assert [len(o.tags) for _, o in cache.calls] == [100, 100, 56]


@pytest.mark.parametrize(
    "failure",
    [RATE_LIMITED, RuntimeError("purge API down")],
    ids=["success-false", "throw"],
)
async def test_a_failed_purge_is_logged_and_retried_with_back_off_until_it_succeeds(
    failure: PurgeResult | Exception, caplog: pytest.LogCaptureFixture
) -> None:
    cache, waits, pauses = FakeEdgeCache([failure, failure, failure]), WaitUntil(), Pauses()
    with caplog.at_level(logging.INFO, "seeding"):
        report = await purger(cache, waits, pauses).revalidate(
            [], ["posts"], RevalidationMode.EXPIRE
        )
        assert not report.reached and report.retrying and report.errors
        assert len(waits.pending) == 1  # the retries run in waitUntil
        await waits.drain()
    assert pauses.taken == [1.0, 2.0, 4.0]  # doubling pauses
    assert len(cache.calls) == 4 and cache.calls[-1][1].tags == ("posts",)
    text = caplog.text
    assert "not reached" in text and "reached on attempt 4" in text
    assert ("10429" if isinstance(failure, PurgeResult) else "purge API down") in text


async def test_a_purge_that_never_succeeds_is_given_up_with_an_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache, waits, pauses = FakeEdgeCache([RATE_LIMITED] * 10), WaitUntil(), Pauses()
    edge = purger(cache, waits, pauses)
    await edge.revalidate([], ["posts"], RevalidationMode.EXPIRE)
    await waits.drain()
    assert len(cache.calls) == edge.attempts
    assert pauses.taken == [1.0, 2.0, 4.0, 8.0] and sum(pauses.taken) < 30  # waitUntil's limit
    assert "gave up after 5 attempts" in caplog.text


async def test_a_purge_that_does_not_answer_is_a_failure_not_a_hang() -> None:
    cache, waits = FakeEdgeCache(hang=True), WaitUntil()
    edge = EdgePurger(cache, waits, FakeClock(), sleep=Pauses(), timeout=0.01)
    report = await edge.revalidate([], ["posts"], RevalidationMode.EXPIRE)
    assert not report.reached and "no answer" in report.errors[0]
    cache.hang = False  # it answers again: the retry in the background gets through
    await waits.drain()
    assert len(cache.calls) == 2


# --- the endpoint ---------------------------------------------------------------------


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock(1_800_000_000.0)
        self.deploy = deploy_once(tmp_path, clock=FakeClock(self.clock() - 1))
        self.db = migrated_database()

    def isolate(self, edge: FakeEdgeCache | None, *, d1: bool = True) -> Isolate:
        tags = TagClock(SqliteD1(self.db), since=0.0) if d1 else None
        iso = Isolate(
            self.deploy,
            FakeSite(),
            self.clock,
            shared=SharedTier(tags=tags),
            revalidation=Revalidation(ENDPOINT, SECRET),
        )
        iso.bindings = Bindings(iso.assets, iso.wait_until, edge=edge)
        iso.front.sleep = self.pauses = Pauses()
        return iso


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


async def post(iso: Isolate, body: dict, *, drain: bool = True):  # type: ignore[no-untyped-def]
    return await iso.request(
        ENDPOINT,
        {"authorization": f"Bearer {SECRET}"},
        method="POST",
        body=json.dumps(body).encode(),
        drain=drain,
    )


async def test_the_answer_says_d1_recorded_it_and_the_edge_was_reached(site: Site) -> None:
    edge = FakeEdgeCache()
    iso = site.isolate(edge)
    response = await post(iso, {"tags": ["posts"], "paths": ["/blog/first"], "mode": "expire"})
    answer = json.loads(response.body)
    assert response.status == 200
    assert answer["d1"] == {"recorded": True}
    assert answer["edge"] == {
        "reached": True,
        "method": "purge",
        "tags": ["posts", path_tag("/blog/first")],
    }


async def test_a_rate_limited_purge_keeps_d1_as_the_record_and_says_the_edge_was_not_reached(
    site: Site,
) -> None:
    edge = FakeEdgeCache([RATE_LIMITED])
    iso = site.isolate(edge)
    response = await post(iso, {"tags": ["posts"]}, drain=False)
    answer = json.loads(response.body)
    assert response.status == 200  # D1 has it: the revalidation happened
    assert answer["d1"] == {"recorded": True}
    assert answer["edge"]["reached"] is False and answer["edge"]["retrying"] is True
    assert "10429" in answer["edge"]["errors"][0]
    assert site.db.execute("SELECT name FROM revalidations").fetchall()[0][0] == "posts"
    await iso.wait_until.drain()
    # retried in the background and reached; then once more after the D1 bound
    assert len(edge.calls) == 3 and site.pauses.taken == [1.0, 6.0]


async def test_a_tag_revalidated_in_any_case_marks_the_page_in_d1_and_at_the_edge(
    site: Site,
) -> None:
    edge = FakeEdgeCache()
    iso = site.isolate(edge)
    before = await iso.request("/blog/first")  # tagged "post:first" by the site
    assert before.headers["x-cache-status"] == "HIT"
    await post(iso, {"tags": ["POST:First"], "mode": "stale"})
    after = await iso.request("/blog/first")
    assert after.headers["x-cache-status"] == "STALE"
    assert edge.tags_sent("invalidate") == ["post:first", "post:first"]  # and the follow-up
    assert "post:first" in before.headers["cache-tag"].split(",")


async def test_without_an_edge_the_endpoint_works_as_before_and_says_so(site: Site) -> None:
    iso = site.isolate(None)
    response = await post(iso, {"tags": ["posts"]})
    answer = json.loads(response.body)
    assert response.status == 200 and answer["revalidated"] is True
    assert answer["edge"] == {"enabled": False}


async def test_when_d1_does_not_record_it_the_edge_is_not_asked(site: Site) -> None:
    edge = FakeEdgeCache()
    iso = site.isolate(edge, d1=False)
    response = await post(iso, {"tags": ["posts"]})
    assert response.status == 503 and edge.calls == []


async def test_the_edge_is_told_again_once_every_isolate_knows_of_the_revalidation(
    site: Site,
) -> None:
    edge = FakeEdgeCache()
    iso = site.isolate(edge)
    await post(iso, {"paths": ["/blog/first"], "mode": "expire"})
    assert [m for m, _ in edge.calls] == ["purge", "purge"]
    assert site.pauses.taken == [6.0]  # TAG_CACHE_SECONDS (5) + 1

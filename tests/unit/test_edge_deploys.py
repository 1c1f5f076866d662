"""A new build leaves no page of the previous build at the edge: the first isolate of a
build purges the previous build's tag (everything, the first time), one isolate per
deploy, and a sweep that fails is tried again by the next isolate."""

from __future__ import annotations

import asyncio

from seeding.edge.deploys import BuildSweep
from seeding.edge.purge import EdgePurger
from seeding.edge.tags import build_tag
from tests.unit.fakes import FakeClock, WaitUntil
from tests.unit.fakes_edge import RATE_LIMITED, FakeEdgeCache, Pauses
from tests.unit.fakes_shared import SqliteD1, migrated_database


class Edge:
    def __init__(self) -> None:
        self.db = migrated_database()
        self.cache = FakeEdgeCache()
        self.clock = FakeClock()

    async def first_request(self, build_id: str, d1: SqliteD1 | None = None) -> bool | None:
        sweep = BuildSweep(d1 or SqliteD1(self.db), build_id, self.clock)
        purger = EdgePurger(self.cache, WaitUntil(), self.clock, sleep=Pauses())
        job = sweep.claim(purger)
        assert job is not None
        assert sweep.claim(purger) is None  # once per isolate
        return await job

    def current(self) -> str:
        return str(self.db.execute("SELECT build_id FROM edge_builds").fetchone()[0])


async def test_the_first_build_at_the_edge_purges_everything_once() -> None:
    edge = Edge()
    assert await edge.first_request("b1") is True
    assert [o.purge_everything for _, o in edge.cache.calls] == [True]
    assert await edge.first_request("b1") is False  # a second isolate of the same build
    assert len(edge.cache.calls) == 1 and edge.current() == "b1"


async def test_a_new_build_purges_the_previous_builds_tag() -> None:
    edge = Edge()
    await edge.first_request("b1")
    edge.cache.calls.clear()
    await edge.first_request("b2")
    assert edge.cache.calls[0][0] == "purge"
    assert edge.cache.tags_sent() == [build_tag("b1")]
    assert edge.current() == "b2"


async def test_isolates_starting_together_on_a_new_build_purge_once() -> None:
    edge = Edge()
    await edge.first_request("b1")
    edge.cache.calls.clear()
    results = await asyncio.gather(*(edge.first_request("b2") for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert len(edge.cache.calls) == 1


async def test_a_sweep_whose_purge_never_succeeds_is_tried_again_by_the_next_isolate() -> None:
    edge = Edge()
    await edge.first_request("b1")
    edge.cache.calls.clear()
    edge.cache.results = [RATE_LIMITED] * 5  # every attempt of the first isolate
    await edge.first_request("b2")
    assert edge.current() == "b1"  # put back
    edge.cache.calls.clear()
    await edge.first_request("b2")
    assert edge.cache.tags_sent() == [build_tag("b1")] and edge.current() == "b2"


async def test_without_a_working_d1_nothing_is_swept_and_nothing_fails() -> None:
    edge = Edge()
    broken = SqliteD1(edge.db)
    broken.error = ConnectionError("D1 down")
    assert await edge.first_request("b1", broken) is False
    assert edge.cache.calls == []

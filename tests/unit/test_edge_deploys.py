"""A new build leaves no page of the previous build at the edge: the first isolate of a
build purges the previous build's tag (everything, the first time), one isolate per
deploy, and a sweep that fails is tried again by the next isolate. In one isolate the
sweep is single flight, and the post-deploy step (the endpoint's `{"deploy": true}`)
awaits it and answers what it did."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from seeding.edge.deploys import BuildSweep, SweepOutcome
from seeding.edge.purge import EdgePurger
from seeding.edge.tags import build_tag
from seeding.flow.handler import Bindings
from seeding.front import Revalidation
from seeding.http import Response
from seeding.shared.tag_clock import TagClock
from seeding.shared.tier import SharedTier
from tests.unit.fakes import FakeClock, FakeSite, WaitUntil
from tests.unit.fakes_edge import RATE_LIMITED, FakeEdgeCache, Pauses
from tests.unit.fakes_shared import SqliteD1, migrated_database
from tests.unit.support import Isolate, deploy_once

SWAPS = "INSERT INTO edge_builds"


class Edge:
    def __init__(self) -> None:
        self.db = migrated_database()
        self.cache = FakeEdgeCache()
        self.clock = FakeClock()

    def purger(self) -> EdgePurger:
        return EdgePurger(self.cache, WaitUntil(), self.clock, sleep=Pauses())

    async def first_request(self, build_id: str, d1: SqliteD1 | None = None) -> SweepOutcome:
        sweep = BuildSweep(d1 or SqliteD1(self.db), build_id, self.clock)
        purger = self.purger()
        job = sweep.claim(purger)
        assert job is not None
        assert sweep.claim(purger) is None  # once per isolate
        return await job

    def current(self) -> str:
        return str(self.db.execute("SELECT build_id FROM edge_builds").fetchone()[0])


def swaps(d1: SqliteD1) -> int:
    return sum(call.startswith(SWAPS) for call in d1.calls)


async def test_the_first_build_at_the_edge_purges_everything_once() -> None:
    edge = Edge()
    first = await edge.first_request("b1")
    assert first.swapped and first.previous is None
    assert [o.purge_everything for _, o in edge.cache.calls] == [True]
    again = await edge.first_request("b1")  # a second isolate of the same build
    assert not again.swapped and again.problem is None
    assert len(edge.cache.calls) == 1 and edge.current() == "b1"


async def test_a_new_build_purges_the_previous_builds_tag() -> None:
    edge = Edge()
    await edge.first_request("b1")
    edge.cache.calls.clear()
    outcome = await edge.first_request("b2")
    assert outcome.swapped and outcome.previous == "b1"
    assert edge.cache.calls[0][0] == "purge"
    assert edge.cache.tags_sent() == [build_tag("b1")]
    assert edge.current() == "b2"


async def test_isolates_starting_together_on_a_new_build_purge_once() -> None:
    edge = Edge()
    await edge.first_request("b1")
    edge.cache.calls.clear()
    outcomes = await asyncio.gather(*(edge.first_request("b2") for _ in range(5)))
    assert sorted(o.swapped for o in outcomes) == [False, False, False, False, True]
    assert len(edge.cache.calls) == 1


async def test_a_sweep_whose_purge_never_succeeds_is_tried_again_by_the_next_isolate() -> None:
    edge = Edge()
    await edge.first_request("b1")
    edge.cache.calls.clear()
    edge.cache.results = [RATE_LIMITED] * 5  # every attempt of the first isolate
    failed = await edge.first_request("b2")
    assert failed.swapped and failed.put_back and not failed.settled
    assert edge.current() == "b1"  # put back
    edge.cache.calls.clear()
    await edge.first_request("b2")
    assert edge.cache.tags_sent() == [build_tag("b1")] and edge.current() == "b2"


async def test_without_a_working_d1_nothing_is_swept_and_nothing_fails() -> None:
    edge = Edge()
    broken = SqliteD1(edge.db)
    broken.error = ConnectionError("D1 down")
    outcome = await edge.first_request("b1", broken)
    assert not outcome.swapped and outcome.problem is not None
    assert "D1 down" in outcome.problem and "0003_edge_builds.sql" in outcome.problem
    assert edge.cache.calls == []


# --- single flight in one isolate -------------------------------------------------------


async def test_concurrent_runs_in_one_isolate_share_one_sweep_and_one_d1_swap() -> None:
    edge = Edge()
    d1 = SqliteD1(edge.db)
    sweep = BuildSweep(d1, "b1", edge.clock)
    claimed = sweep.claim(edge.purger())
    assert claimed is not None
    outcomes = await asyncio.gather(claimed, *(sweep.run(edge.purger()) for _ in range(4)))
    assert all(o == outcomes[0] for o in outcomes) and outcomes[0].swapped
    assert swaps(d1) == 1 and len(edge.cache.calls) == 1


async def test_a_settled_sweep_is_answered_again_without_asking_d1_or_the_edge() -> None:
    edge = Edge()
    d1 = SqliteD1(edge.db)
    sweep = BuildSweep(d1, "b1", edge.clock)
    first = await sweep.run(edge.purger())
    assert sweep.claim(edge.purger()) is None  # a run counts as the isolate's claim
    assert await sweep.run(edge.purger()) == first
    assert swaps(d1) == 1 and len(edge.cache.calls) == 1


async def test_a_sweep_whose_purge_failed_runs_again_when_asked_in_the_same_isolate() -> None:
    edge = Edge()
    await edge.first_request("b1")
    edge.cache.results = [RATE_LIMITED] * 5
    sweep = BuildSweep(SqliteD1(edge.db), "b2", edge.clock)
    assert (await sweep.run(edge.purger())).put_back and edge.current() == "b1"
    again = await sweep.run(edge.purger())
    assert again.swapped and again.previous == "b1" and again.settled
    assert edge.current() == "b2"


async def test_a_caller_gives_up_on_a_sweep_that_does_not_finish_and_is_told_so() -> None:
    edge = Edge()
    d1 = SqliteD1(edge.db)
    d1.hang = True
    sweep = BuildSweep(d1, "b1", edge.clock, max_wait=0.05)
    leader = asyncio.create_task(sweep.run(edge.purger()))
    await asyncio.sleep(0)
    waited = await sweep.run(edge.purger())
    assert waited.problem is not None and "did not finish within 0.05 s" in waited.problem
    assert swaps(d1) == 1  # the waiter did not start a second sweep
    leader.cancel()


# --- the post-deploy step: the endpoint's {"deploy": true} ------------------------------

SECRET = "deploy-secret"
ENDPOINT = "/__revalidate"


class Site:
    """A deployed build behind the front door, with D1 holding the edge build record."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock(1_800_000_000.0)
        self.deploy = deploy_once(tmp_path, clock=FakeClock(self.clock() - 1))
        self.build_id = self.deploy.identity().build_id
        self.db = migrated_database()
        self.d1 = SqliteD1(self.db)

    def record(self, build_id: str) -> None:
        self.db.execute(
            "INSERT INTO edge_builds (name, build_id, previous, switched_at) "
            "VALUES ('current', ?, NULL, 0)",
            (build_id,),
        )

    def current(self) -> str:
        return str(self.db.execute("SELECT build_id FROM edge_builds").fetchone()[0])

    def isolate(self, edge: FakeEdgeCache | None, *, d1: bool = True) -> Isolate:
        sweep = BuildSweep(self.d1, self.build_id, self.clock) if d1 else None
        iso = Isolate(
            self.deploy,
            FakeSite(),
            self.clock,
            shared=SharedTier(tags=TagClock(self.d1, since=0.0) if d1 else None),
            revalidation=Revalidation(ENDPOINT, SECRET),
            sweep=sweep,
        )
        iso.bindings = Bindings(iso.assets, iso.wait_until, edge=edge)
        iso.front.sleep = Pauses()
        return iso


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


async def deploy_step(iso: Isolate, *, drain: bool = True) -> Response:
    return await iso.request(
        ENDPOINT,
        {"authorization": f"Bearer {SECRET}"},
        method="POST",
        body=json.dumps({"deploy": True}).encode(),
        drain=drain,
    )


async def test_the_step_says_the_build_took_over_from_the_previous_one(site: Site) -> None:
    site.record("b-old")
    edge = FakeEdgeCache()
    response = await deploy_step(site.isolate(edge))
    assert response.status == 200
    assert json.loads(response.body) == {
        "deploy": True,
        "build": site.build_id,
        "d1": {"swapped": True, "previous": "b-old"},
        "edge": {"reached": True, "method": "purge", "tags": [build_tag("b-old")]},
    }
    assert site.current() == site.build_id and len(edge.calls) == 1


async def test_the_first_build_recorded_purges_everything_and_says_there_was_none(
    site: Site,
) -> None:
    response = await deploy_step(site.isolate(FakeEdgeCache()))
    answer = json.loads(response.body)
    assert answer["d1"] == {"swapped": True, "previous": None}
    assert answer["edge"] == {"reached": True, "method": "purge", "purgeEverything": True}


async def test_the_step_says_when_the_record_already_named_this_build(site: Site) -> None:
    site.record(site.build_id)
    edge = FakeEdgeCache()
    response = await deploy_step(site.isolate(edge))
    answer = json.loads(response.body)
    assert response.status == 200
    assert answer["d1"] == {"swapped": False, "current": True}
    assert answer["edge"] == {"sent": False} and edge.calls == []


async def test_without_d1_the_step_says_there_is_no_record_and_sweeps_nothing(
    site: Site,
) -> None:
    edge = FakeEdgeCache()
    response = await deploy_step(site.isolate(edge, d1=False))
    answer = json.loads(response.body)
    assert response.status == 200 and answer["build"] == site.build_id
    assert answer["d1"] == {"enabled": False} and answer["edge"] == {"sent": False}
    assert edge.calls == []


async def test_without_an_edge_the_step_says_so_and_leaves_the_record_alone(site: Site) -> None:
    site.record("b-old")
    response = await deploy_step(site.isolate(None))
    answer = json.loads(response.body)
    assert response.status == 200
    assert answer["edge"] == {"enabled": False} and answer["d1"] == {"swapped": False}
    assert site.current() == "b-old"


async def test_a_purge_that_never_reaches_the_edge_is_said_and_the_record_put_back(
    site: Site,
) -> None:
    site.record("b-old")
    edge = FakeEdgeCache([RATE_LIMITED] * 5)
    iso = site.isolate(edge)
    response = await deploy_step(iso, drain=False)
    answer = json.loads(response.body)
    assert response.status == 200  # as a revalidation whose edge call failed
    assert answer["d1"] == {"swapped": True, "previous": "b-old", "putBack": True}
    assert answer["edge"]["reached"] is False and answer["edge"]["retrying"] is False
    assert "10429" in answer["edge"]["errors"][0]
    assert site.current() == "b-old"
    again = json.loads((await deploy_step(iso)).body)  # the step run again gets through
    assert again["d1"] == {"swapped": True, "previous": "b-old"}
    assert again["edge"]["reached"] is True and site.current() == site.build_id


async def test_a_d1_that_does_not_answer_makes_the_step_a_503_to_retry(site: Site) -> None:
    site.d1.error = ConnectionError("D1 down")
    response = await deploy_step(site.isolate(FakeEdgeCache()))
    assert response.status == 503 and response.headers["retry-after"] == "5"
    error = json.loads(response.body)["error"]
    assert "D1 down" in error and "migrations/0003_edge_builds.sql" in error


async def test_the_first_page_request_with_an_edge_sweeps_in_the_background(site: Site) -> None:
    site.record("b-old")
    edge = FakeEdgeCache()
    iso = site.isolate(edge)
    page = await iso.request("/about", drain=False)
    assert page.status == 200 and site.current() == "b-old" and len(iso.wait_until.pending) == 1
    await iso.wait_until.drain()
    assert site.current() == site.build_id and edge.tags_sent() == [build_tag("b-old")]
    await iso.request("/about")
    assert len(edge.calls) == 1  # once per isolate


async def test_the_step_shares_the_sweep_a_page_request_started(site: Site) -> None:
    site.record("b-old")
    edge = FakeEdgeCache()
    iso = site.isolate(edge)
    await iso.request("/about", drain=False)
    background = asyncio.create_task(iso.wait_until.drain())  # the claimed sweep, running
    await asyncio.sleep(0)
    response = await deploy_step(iso, drain=False)
    await background
    answer = json.loads(response.body)
    assert answer["d1"] == {"swapped": True, "previous": "b-old"}
    assert answer["edge"]["reached"] is True
    assert swaps(site.d1) == 1 and len(edge.calls) == 1

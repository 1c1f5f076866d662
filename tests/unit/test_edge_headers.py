"""What the edge (Workers Cache) is told about each answer: a stored page's remaining
freshness counted from when it was generated, with its stale-while-revalidate window
and never `s-maxage`; a STALE page never as fresh; and anything the Worker does not
store (dynamic, private, 404 of no route, redirects, errors) never stored there."""

from __future__ import annotations

from pathlib import Path

import pytest

from seeding.edge.headers import (
    CACHE_TAG,
    EDGE_CACHE_CONTROL,
    EDGE_MAX_AGE,
    EdgeView,
    edge_cache_control,
)
from seeding.edge.tags import build_tag
from seeding.flow.handler import Bindings
from seeding.primitives.cache import CacheEntry
from seeding.shared.tag_clock import TagClock
from seeding.shared.tier import SharedTier
from tests.unit.fakes import FakeClock, FakeSite
from tests.unit.fakes_edge import FakeEdgeCache
from tests.unit.fakes_shared import SqliteD1
from tests.unit.support import Deploy, Isolate, deploy_once

GENERATED = 1_800_000_000.0


def directives(value: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        out[name] = arg or None
    return out


def page(revalidate: int | None = 60, expire: int | None = 300) -> CacheEntry:
    return CacheEntry(
        b"<p>hi</p>",
        200,
        {"content-type": "text/html"},
        GENERATED,
        revalidate,
        expire,
        ("Posts",),
    )


def served(entry: CacheEntry, age: float, label: str = "HIT") -> dict[str, str]:
    return dict(entry.served_headers(label, EdgeView(GENERATED + age, "/blog/a", "b1")))


def test_a_fresh_page_tells_the_edge_its_remaining_freshness_and_its_window() -> None:
    headers = served(page(60, 300), age=10)
    edge = directives(headers[EDGE_CACHE_CONTROL])
    assert edge == {"max-age": "50", "stale-while-revalidate": "240"}
    assert "s-maxage" not in headers[EDGE_CACHE_CONTROL]


def test_the_remaining_freshness_counts_down_with_the_clock() -> None:
    entry, clock = page(60, 300), FakeClock(GENERATED)
    seen = []
    for step in (0, 30, 29.5):
        clock.advance(step)
        headers = entry.served_headers("HIT", EdgeView(clock(), "/blog/a", "b1"))
        seen.append(directives(headers[EDGE_CACHE_CONTROL])["max-age"])
    assert seen == ["60", "30", "0"]  # rounded down: never fresher than the Worker says


def test_a_page_near_the_end_of_its_window_is_kept_fresh_only_for_what_is_left() -> None:
    edge = directives(served(page(60, 300), age=59.9)[EDGE_CACHE_CONTROL])
    assert edge["max-age"] == "0" and edge["stale-while-revalidate"] == "240"


def test_a_stale_answer_is_never_stored_at_the_edge_as_fresh() -> None:
    edge = directives(served(page(60, 300), age=100, label="STALE")[EDGE_CACHE_CONTROL])
    assert edge == {"max-age": "0", "stale-while-revalidate": "200"}  # 300 - 100 left


def test_a_stale_answer_at_the_end_of_its_life_must_be_revalidated() -> None:
    assert served(page(60, 300), age=300, label="STALE")[EDGE_CACHE_CONTROL] == "max-age=0"


def test_a_page_marked_stale_on_demand_before_its_time_is_up_is_stale_at_the_edge() -> None:
    edge = directives(served(page(60, 300), age=5, label="STALE")[EDGE_CACHE_CONTROL])
    assert edge["max-age"] == "0"


def test_a_page_that_never_revalidates_stays_at_the_edge_a_day_not_a_year() -> None:
    headers = served(page(None, None), age=10)
    edge = directives(headers[EDGE_CACHE_CONTROL])
    assert edge["max-age"] == str(EDGE_MAX_AGE)
    assert headers["cache-control"] == "s-maxage=31536000"  # what browsers and others read


def test_a_long_revalidate_time_is_capped_at_the_edge() -> None:
    assert edge_cache_control(7 * 86400, None, 0, stale=False).startswith(
        f"max-age={EDGE_MAX_AGE},"
    )


def test_browsers_get_the_nextjs_cache_control_whatever_the_age() -> None:
    entry = page(60, 300)
    assert served(entry, 1)["cache-control"] == served(entry, 50)["cache-control"]
    assert served(entry, 1)["cache-control"] == "s-maxage=60, stale-while-revalidate=240"


def test_a_stored_page_carries_its_tags_its_path_and_its_build_for_the_edge() -> None:
    tags = served(page(), age=1)[CACHE_TAG].split(",")
    assert tags == ["posts", "path:/blog/a", build_tag("b1")]


def test_without_an_edge_a_page_is_sent_exactly_as_before() -> None:
    headers = page().served_headers("HIT")
    assert EDGE_CACHE_CONTROL not in headers and CACHE_TAG not in headers


def test_a_hot_page_reuses_one_header_set_while_its_directive_holds() -> None:
    entry = page()
    first = entry.served_headers("HIT", EdgeView(GENERATED + 10.1, "/blog/a", "b1"))
    again = entry.served_headers("HIT", EdgeView(GENERATED + 10.9, "/blog/a", "b1"))
    later = entry.served_headers("HIT", EdgeView(GENERATED + 11.2, "/blog/a", "b1"))
    assert again is first  # same object: worker.py reuses its JS init
    assert later is not first and later[EDGE_CACHE_CONTROL] != first[EDGE_CACHE_CONTROL]


# --- through the request flow ---------------------------------------------------------


@pytest.fixture
def deploy(tmp_path: Path) -> Deploy:
    return deploy_once(tmp_path, clock=FakeClock(GENERATED))


@pytest.fixture
def isolate(deploy: Deploy) -> Isolate:
    iso = Isolate(deploy, FakeSite(), FakeClock(GENERATED + 10))
    iso.bindings = Bindings(iso.assets, iso.wait_until, edge=FakeEdgeCache())
    return iso


async def test_a_seeded_page_and_its_data_variant_carry_the_same_path_tag(
    isolate: Isolate,
) -> None:
    html = await isolate.request("/blog/first")
    data = await isolate.request("/blog/first.json")
    assert directives(html.headers[EDGE_CACHE_CONTROL])["max-age"] == "50"
    assert "path:/blog/first" in html.headers[CACHE_TAG].split(",")
    assert html.headers[CACHE_TAG] == data.headers[CACHE_TAG]


async def test_a_conditional_request_gets_a_304_with_the_current_edge_directive(
    isolate: Isolate,
) -> None:
    first = await isolate.request("/blog/first")
    isolate.clock.advance(20)
    again = await isolate.request("/blog/first", {"if-none-match": first.headers["etag"]})
    assert again.status == 304 and again.body == b""
    assert directives(again.headers[EDGE_CACHE_CONTROL])["max-age"] == "30"
    assert isolate.site.renders == []


def private_at_the_edge(headers: dict[str, str] | object) -> bool:
    value = (
        headers[EDGE_CACHE_CONTROL] if EDGE_CACHE_CONTROL in headers else headers["cache-control"]
    )  # type: ignore[index,operator]
    names = directives(value)
    return "no-store" in names and "private" in names


@pytest.mark.parametrize(
    ("path", "headers", "method", "status"),
    [
        ("/now", {}, "GET", 200),  # dynamic
        ("/blog/first", {"authorization": "Bearer x"}, "GET", 200),  # private request
        ("/blog/first", {}, "POST", 200),  # not GET or HEAD
        ("/no/such/page", {}, "GET", 404),  # no route
        ("/__prerender/x", {}, "GET", 404),  # private path
        ("/blog/first/", {}, "GET", 308),  # canonical redirect
    ],
)
async def test_what_the_worker_does_not_store_the_edge_never_stores(
    isolate: Isolate, path: str, headers: dict[str, str], method: str, status: int
) -> None:
    response = await isolate.request(path, headers, method=method)
    assert response.status == status
    assert private_at_the_edge(response.headers)
    assert CACHE_TAG not in response.headers


async def test_an_app_that_calls_its_uncached_answer_cacheable_is_still_not_stored_at_the_edge(
    isolate: Isolate,
) -> None:
    isolate.site.extra_headers["cache-control"] = "public, s-maxage=600"
    response = await isolate.request("/now")  # dynamic all the same
    assert response.headers["cache-control"] == "public, s-maxage=600"
    assert private_at_the_edge(response.headers)


async def test_a_renderer_error_is_a_500_the_edge_never_stores(isolate: Isolate) -> None:
    isolate.site.fail_routes.add("/blog/late")
    response = await isolate.request("/blog/late")
    assert response.status == 500
    assert private_at_the_edge(response.headers)


async def test_an_answer_from_an_out_of_date_copy_of_d1_is_not_stored_at_the_edge_as_fresh(
    deploy: Deploy,
) -> None:
    shared = SharedTier(tags=TagClock(SqliteD1(), max_age=5.0, since=0.0))
    iso = Isolate(deploy, FakeSite(), FakeClock(GENERATED + 10), shared=shared)
    iso.bindings = Bindings(iso.assets, iso.wait_until, edge=FakeEdgeCache())

    def max_age(response: object) -> str | None:
        return directives(response.headers[EDGE_CACHE_CONTROL])["max-age"]  # type: ignore[attr-defined]

    # A cold isolate reads D1 before it answers: the page is vouched for.
    assert max_age(await iso.request("/about")) == str(EDGE_MAX_AGE)
    iso.clock.advance(6)  # idle past TAG_CACHE_SECONDS: revalidations may have happened
    assert max_age(await iso.request("/about")) == "0"  # answered while D1 is reread
    assert max_age(await iso.request("/about")) == str(EDGE_MAX_AGE)  # reread: vouched for


async def test_the_edges_conditional_request_to_a_cold_isolate_is_a_304_from_the_seed(
    deploy: Deploy,
) -> None:
    warm = Isolate(deploy, FakeSite(), FakeClock(GENERATED + 10))
    etag = (await warm.request("/blog/first")).headers["etag"]
    cold = Isolate(deploy, FakeSite(), FakeClock(GENERATED + 20))  # another isolate
    cold.bindings = Bindings(cold.assets, cold.wait_until, edge=FakeEdgeCache())
    answer = await cold.request("/blog/first", {"if-none-match": etag})
    assert answer.status == 304 and answer.headers["etag"] == etag  # same page, same ETag
    assert cold.site.renders == [] and cold.assets.fetches() == 1  # seeded, not rendered

"""The project's Worker over HTTP: seeding, caching, private files, the example site's
pages, and graceful degradation under injected asset faults.

What happened is read from what a user sees (each page says whether it was made at
build time or for this request: `data-phase` in the HTML, `generated.phase` in the
JSON; the cache status header) and from the local runtime's asset-fetch log.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import pytest

from tests.worker.conftest import ROOT, HttpResponse, WorkerClient

PRERENDERED = "/about"  # never revalidated: fresh whatever the test's timing
ON_DEMAND = "/blog/single-flight-rendering"
PRIVATE_PREFIX = "/__prerender/"


def phase(response: HttpResponse) -> str:
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()["generated"]["phase"]
    match = re.search(r'data-phase="(\w+)"', response.text)
    assert match, response.text[:300]
    return match.group(1)


def route_fetches(worker: WorkerClient) -> Counter[str]:
    return Counter(f["path"] for f in worker.asset_log())


@pytest.fixture
def fresh(local_worker: WorkerClient) -> WorkerClient:
    """A fresh isolate of a fresh deployment, no faults: empty memory cache, nothing seeded
    yet, nothing in KV or D1."""
    local_worker.clear_faults()
    local_worker.control.reset_storage()
    local_worker.restart()
    yield local_worker
    local_worker.clear_faults()


def test_first_request_is_seeded_without_rendering_and_the_second_is_a_hit(
    fresh: WorkerClient,
) -> None:
    first = fresh.get(PRERENDERED)
    assert first.status == 200
    assert first.headers["x-cache-status"] == "HIT"
    assert phase(first) == "build"  # the prerendered page, not a render
    fetched = fresh.asset_log()
    assert len(fetched) == 1, fetched  # one fetch: the route's pack, nothing before it
    assert fetched[0]["path"].startswith(PRIVATE_PREFIX + "packs/")
    assert fetched[0]["status"] == 200

    second = fresh.get(PRERENDERED)
    assert second.headers["x-cache-status"] == "HIT"
    assert second.body == first.body
    assert fresh.asset_log() == fetched  # no asset fetch for a cached page


def test_the_build_library_is_never_loaded_in_the_worker(fresh: WorkerClient) -> None:
    """`seeding.build` (prerender, copy, plan) is build-time code: serving a seed, a
    render and a 404 imports none of it."""
    assert fresh.get(PRERENDERED).headers["x-cache-status"] == "HIT"
    assert fresh.get(ON_DEMAND).headers["x-cache-status"] == "MISS"
    assert fresh.get("/no-such-page").status == 404
    code = (
        "import sys\n"
        "sorted(m for m in sys.modules if m == 'seeding.build' or m.startswith('seeding.build.'))"
    )
    assert fresh.evaluate(code) == []
    assert "seeding.flow.handler" in fresh.evaluate("import sys\nsorted(sys.modules)")


def test_fifty_concurrent_cold_requests_fetch_each_file_once(fresh: WorkerClient) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: fresh.get(PRERENDERED), range(50)))
    assert {r.status for r in responses} == {200}
    assert {phase(r) for r in responses} == {"build"}
    counts = route_fetches(fresh)
    assert counts, "nothing was seeded"
    assert max(counts.values()) == 1, counts


def test_data_variant_is_json_and_seeded_too(fresh: WorkerClient) -> None:
    response = fresh.get(PRERENDERED + ".json")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["route"] == PRERENDERED
    assert phase(response) == "build"
    root = fresh.get("/index.json")
    assert root.json()["route"] == "/"


def test_not_prerendered_post_renders_on_demand_then_is_cached(fresh: WorkerClient) -> None:
    first = fresh.get(ON_DEMAND)
    assert first.status == 200 and first.headers["x-cache-status"] == "MISS"
    assert phase(first) == "request"
    second = fresh.get(ON_DEMAND)
    assert second.headers["x-cache-status"] == "HIT"
    assert second.body == first.body


def test_dynamic_page_is_never_cached(worker: WorkerClient) -> None:
    first = worker.get("/now")
    time.sleep(0.01)
    second = worker.get("/now")
    assert first.status == second.status == 200
    assert second.headers["x-cache-status"] == "MISS"
    assert second.headers["cache-control"].startswith("private, no-cache, no-store")
    assert first.body != second.body  # it shows the request time


def test_unknown_page_is_the_sites_404(worker: WorkerClient) -> None:
    response = worker.get("/no/such/page")
    assert response.status == 404
    assert "<html" in response.text.lower()
    data = worker.get("/no/such/page.json")
    assert data.status == 404 and data.json()["notFound"] is True


def test_unlisted_paths_cause_no_asset_fetch(fresh: WorkerClient) -> None:
    for path in ["/now", "/nothing-here", "/blog/nope", ON_DEMAND, "/%zz"]:
        fresh.get(path)
    # The build's route filter ships in the Worker's code: no fetch to find out.
    assert fresh.asset_log() == []


def follow(worker: WorkerClient, path: str, limit: int = 5) -> HttpResponse:
    response = worker.get(path)
    while response.status in (301, 302, 307, 308) and limit:
        path = urljoin("http://x" + path, response.headers["location"]).removeprefix("http://x")
        response = worker.get(path)
        limit -= 1
    return response


@pytest.mark.parametrize(
    "spelling",
    [
        "/__prerender/packs/{pack}",
        "/%5F%5Fprerender/packs/{pack}",
        "/%5f_prerender/packs/{pack}",
        "/_%5Fprerender/packs/{pack}",
        "//__prerender/packs/{pack}",
        "/__PRERENDER/packs/{pack}",
        "/x/../__prerender/packs/{pack}",
        "/__prerender/packs/{pack}.json",
        "/__prerender/",
    ],
)
def test_private_prerender_files_are_404_from_outside_in_every_spelling(
    worker: WorkerClient, spelling: str
) -> None:
    packs = sorted((ROOT / "public/__prerender/packs").glob("*.bin"))
    assert packs, "the build's packs exist"
    private = [f.read_bytes() for f in packs]
    path = spelling.format(pack=packs[0].name)
    response = follow(worker, path)
    assert response.status == 404, (path, response.status)
    assert response.body not in private
    assert b"LSPACK" not in response.body and b'"buildId"' not in response.body


# --- faults injected into the asset binding ---------------------------------------------------


def test_a_route_file_that_fails_still_answers_200_through_the_renderer(
    fresh: WorkerClient,
) -> None:
    fresh.set_faults([{"prefix": "/__prerender/packs/", "raise": "injected"}])
    response = fresh.get(PRERENDERED)
    assert response.status == 200
    assert phase(response) == "request"  # rendered
    assert any(f["fault"] for f in fresh.asset_log())


@pytest.mark.parametrize("fault", [{"status": 500}, {"raise": True}, {"status": 503}])
def test_a_transient_pack_failure_is_retried_by_a_later_request(
    fresh: WorkerClient, fault: dict
) -> None:
    fresh.set_faults([{"prefix": "/__prerender/packs/", "times": 1, **fault}])
    first = fresh.get("/index.json")
    assert first.status == 200 and phase(first) == "request"
    time.sleep(1.2)  # the retry interval after a transient failure
    second = fresh.get("/")  # the same pack, not cached by the render of the data form
    assert second.status == 200 and phase(second) == "build"
    packs = [f for f in fresh.asset_log() if f["path"].startswith("/__prerender/packs/")]
    assert len(packs) == 2 and packs[0]["path"] == packs[1]["path"]


def test_a_permanent_pack_failure_is_not_retried(fresh: WorkerClient) -> None:
    fresh.set_faults([{"prefix": "/__prerender/packs/", "status": 404}])
    for path in [PRERENDERED, PRERENDERED + ".json", PRERENDERED]:
        response = fresh.get(path)
        assert response.status == 200 and phase(response) == "request"
        time.sleep(0.6)
    packs = [f for f in fresh.asset_log() if f["path"].startswith("/__prerender/packs/")]
    assert len(packs) == 1
    errors = " ".join(line["line"] for line in fresh.python_log()["output"])
    assert "pack unavailable" in errors and "render instead" in errors


def test_a_delayed_asset_still_seeds_once_under_concurrency(fresh: WorkerClient) -> None:
    fresh.set_faults([{"prefix": "/__prerender/", "delay_ms": 300}])
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: fresh.get("/"), range(20)))
    assert {r.status for r in responses} == {200}
    assert {phase(r) for r in responses} == {"build"}
    assert max(route_fetches(fresh).values()) == 1


def test_json_content_type_and_cache_headers_for_the_data_variant(worker: WorkerClient) -> None:
    response = worker.get("/about.json")
    assert response.headers["content-type"] == "application/json"
    assert "etag" in response.headers
    json.loads(response.body)

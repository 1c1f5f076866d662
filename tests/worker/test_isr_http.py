"""Incremental regeneration over HTTP: MISS/HIT, STALE served at once while one
regeneration runs in ctx.waitUntil, then HIT with new content; cache headers, 304
and HEAD. `/pulse` is the example site's page that revalidates every 2 seconds."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.worker.conftest import WorkerClient, wait_for
from tests.worker.test_site_http import phase

PULSE = "/pulse"
PULSE_REVALIDATE_S = 2


@pytest.fixture
def fresh(local_worker: WorkerClient) -> WorkerClient:
    """A fresh isolate of a fresh deployment: empty memory, nothing in KV or D1."""
    local_worker.clear_faults()
    local_worker.control.reset_storage()
    local_worker.restart()
    return local_worker


def regenerations(worker: WorkerClient, route: str) -> int:
    lines = [entry["line"] for entry in worker.python_log()["output"]]
    return sum(1 for line in lines if "regenerated" in line and line.rstrip().endswith(route))


def test_miss_hit_then_stale_then_hit_with_new_content(fresh: WorkerClient) -> None:
    first = fresh.get(PULSE)
    assert first.status == 200 and first.headers["x-cache-status"] == "MISS"
    assert phase(first) == "request"
    second = fresh.get(PULSE)
    assert second.headers["x-cache-status"] == "HIT" and second.body == first.body

    time.sleep(PULSE_REVALIDATE_S + 0.3)
    stale = fresh.get(PULSE)
    assert stale.headers["x-cache-status"] == "STALE"
    assert stale.headers["x-nextjs-cache"] == "STALE"
    assert stale.body == first.body  # served at once, the old page

    fresh_page = wait_for(
        lambda: (r := fresh.get(PULSE)).headers["x-cache-status"] == "HIT" and r, timeout=10
    )
    assert fresh_page, "the regeneration did not land"
    assert fresh_page.body != first.body  # new content, generated later
    assert regenerations(fresh, PULSE) == 1


def test_twenty_concurrent_stale_requests_cause_one_regeneration(fresh: WorkerClient) -> None:
    original = fresh.get(PULSE)
    time.sleep(PULSE_REVALIDATE_S + 0.3)
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: fresh.get(PULSE), range(20)))
    assert {r.status for r in responses} == {200}
    statuses = {r.headers["x-cache-status"] for r in responses}
    assert "STALE" in statuses and statuses <= {"STALE", "HIT"}
    assert all(r.body == original.body for r in responses if r.headers["x-cache-status"] == "STALE")
    assert wait_for(lambda: regenerations(fresh, PULSE) >= 1, timeout=10)
    time.sleep(0.5)  # a second regeneration, if one had been started, would land by now
    assert regenerations(fresh, PULSE) == 1


def test_cache_control_follows_nextjs(worker: WorkerClient) -> None:
    assert worker.get("/about").headers["cache-control"] == "s-maxage=31536000"
    pulse = worker.get(PULSE).headers["cache-control"]
    assert pulse.startswith(f"s-maxage={PULSE_REVALIDATE_S}, stale-while-revalidate=")
    now = worker.get("/now").headers["cache-control"]
    assert now == "private, no-cache, no-store, max-age=0, must-revalidate"


def test_if_none_match_answers_304_without_a_body(worker: WorkerClient) -> None:
    page = worker.get("/about")
    etag = page.headers["etag"]
    not_modified = worker.get("/about", {"if-none-match": etag})
    assert not_modified.status == 304
    assert not_modified.body == b""
    assert not_modified.headers["etag"] == etag
    assert worker.get("/about", {"if-none-match": '"something-else"'}).status == 200


def test_head_is_answered_from_the_cache_with_headers_and_no_body(worker: WorkerClient) -> None:
    get = worker.get("/about")
    head = worker.head("/about")
    assert head.status == 200 and head.body == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["x-cache-status"] == "HIT"
    assert head.headers["content-type"] == get.headers["content-type"]


def test_credentials_never_get_the_shared_copy(worker: WorkerClient) -> None:
    shared = worker.get("/about")
    private = worker.get("/about", {"authorization": "Bearer secret"})
    assert private.status == 200
    assert private.headers["cache-control"].startswith("private")
    assert private.headers["x-cache-status"] == "MISS"
    assert phase(private) == "request" and phase(shared) == "build"

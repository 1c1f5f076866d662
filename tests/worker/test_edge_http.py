"""The example blog through the edge: what a client sees with `[cache] enabled = true`.

The project (a copy of this repository: its src/, wrangler.toml with `[cache]`, KV and D1,
built with its own commands) runs in the local runtime with the edge stand-in in front of
two isolates (runtime/README.md, "The edge"). Each test states something the README
promises a user who turns the edge on:

- a page the edge holds is answered without running Python (the isolates' request logs
  and the edge's count of requests that reached them stay still);
- an ISR page is never older than its window plus the freshness bound (README, "Freshness
  bound": twice TAG_CACHE_SECONDS), through the edge or straight from the isolates;
- tag and path revalidations, `stale` (ctx.cache.invalidate) and `expire`
  (ctx.cache.purge), reach a client of the other isolate within that bound (plus the time a
  regeneration takes: the bound is about knowing of a revalidation);
- a new build serves no page of the previous one: a restart is a new Worker version, and
  with `cross_version_cache` the documented post-deploy step (`{"deploy": true}`, what
  `scripts/revalidate.py --deploy` sends) purges the previous build's tag;
- the poisoning cases of tests/worker/test_poisoning_http.py hold with the edge in front;
- a purge the edge refuses (rate limited) leaves D1 as the record, answers no 5xx, says the
  edge was not reached, and the retry brings the new page within the bound.

Constants (the bound, the ISR window) are read from wrangler.toml and the code. Local
runtime only.
"""

from __future__ import annotations

import calendar
import json
import re
import shutil
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.routing
from runtime.local_runtime import run_wrangler
from seeding.config import settings_from_vars
from seeding.edge.tags import build_tag
from seeding.rendering import RenderMode
from seeding.shared.tag_clock import BOUND_FACTOR
from tests.worker.conftest import (
    ROOT,
    TARGET,
    HttpResponse,
    WorkerClient,
    serve_project,
    wait_for,
)
from tests.worker.test_poisoning_http import (
    ACCEPT_ENCODING,
    CACHED,
    CASES,
    GZIP_MAGIC,
    KINDS,
    cache_status,
    probe_project,  # noqa: F401 (a fixture, used below)
    set_cookies,
    shown,
    visit,
)
from tests.worker.test_shared_tier_http import build, make_project, revalidate

pytestmark = pytest.mark.skipif(TARGET != "local", reason="the edge runs in the local runtime")

WRANGLER = tomllib.loads((ROOT / "wrangler.toml").read_text())
SETTINGS, _ = settings_from_vars(lambda name: WRANGLER.get("vars", {}).get(name))
# README "Freshness bound": no answer is judged on revalidation times older than this.
BOUND_S = SETTINGS.tag_cache_seconds * BOUND_FACTOR
# What the bound does not cover: after an isolate knows of a revalidation, the page is
# rendered again (and, mode stale, the edge asks the Worker in the background).
REGENERATION_ALLOWANCE_S = 5.0
PULSE = "/pulse"
PULSE_REVALIDATE_S = app.routing.PULSE_REVALIDATE
POSTS = [
    r.path
    for r in app.routing.site_routes()
    if r.pattern == "/blog/[slug]" and r.mode is RenderMode.PRERENDER
]
TAG_PAGES = [r.path for r in app.routing.site_routes() if r.pattern == "/tags/[tag]"]
STAMP = re.compile(r'data-phase="(\w+)".*?<time datetime="([^"]+)"', re.DOTALL)
# The poisoning cases the edge could mix up: a host, a forwarded header, a cookie,
# credentials (Accept-Encoding has its own test).
POISON_CASES = [c for c in CASES if c.id in ("host", "x-forwarded-host", "cookie", "authorization")]


def stamp(response: HttpResponse) -> tuple[str, float]:
    """The page's generation stamp: its phase ("build" or "request") and epoch seconds."""
    match = STAMP.search(response.text)
    assert match, (response.status, response.text[:300])
    at = calendar.timegm(time.strptime(match.group(2)[:19], "%Y-%m-%dT%H:%M:%S"))
    return match.group(1), at + int(match.group(2)[20:23]) / 1000


def edge_status(response: HttpResponse) -> str:
    return response.headers.get("cf-cache-status", "")


def served_at_edge(client: WorkerClient, path: str) -> HttpResponse:
    """Ask until the edge answers from its entry (the first answer after an idle spell is
    sent as stale, so the edge may need a second one to keep it fresh)."""
    answers: list[HttpResponse] = []

    def hit() -> bool:
        answers.append(client.get(path))
        return edge_status(answers[-1]) == "HIT"

    assert wait_for(hit, timeout=BOUND_S + REGENERATION_ALLOWANCE_S, interval=0.2), [
        (a.status, edge_status(a)) for a in answers
    ]
    return answers[-1]


def first_new_page(client: WorkerClient, path: str, since: float) -> float:
    """Seconds until `client` is served a page of `path` generated on request at `since`
    or later (a second of leeway for the isolate's clock); fails after the bound and the
    allowance."""
    started = time.monotonic()
    seen: list[tuple[int, str, str]] = []

    def regenerated() -> bool:
        response = client.get(path)
        assert response.status < 500, response.text[:300]
        phase, at = stamp(response)
        seen.append((response.status, edge_status(response), phase))
        return phase == "request" and at >= since - 1

    assert wait_for(regenerated, timeout=BOUND_S + REGENERATION_ALLOWANCE_S, interval=0.2), seen
    return time.monotonic() - started


def d1_marks(project: Path, state: Path, name: str) -> list[dict]:
    """The revalidations table's rows for `name`, read by wrangler from the runtime's data."""
    database = WRANGLER["d1_databases"][0]["database_name"]
    command = f"SELECT kind, name, stale_at, expired_at FROM revalidations WHERE name = '{name}'"
    args = ["d1", "execute", database, "--local", "--persist-to", str(state), "--json"]
    result = run_wrangler([*args, "--command", command], project)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)[0]["results"]


# --- the project behind the edge --------------------------------------------------------------


@pytest.fixture(scope="module")
def project(runtime_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("edge-http"))
    assert tomllib.loads((root / "wrangler.toml").read_text())["cache"]["enabled"] is True
    return root


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge-http-runtime")


@pytest.fixture(scope="module")
def pair(project: Path, base: Path) -> Iterator[list[WorkerClient]]:
    """Two isolates behind one edge."""
    yield from serve_project(project, base, isolates=2, edge=True)


@pytest.fixture
def a_and_b(pair: list[WorkerClient]) -> Iterator[tuple[WorkerClient, WorkerClient]]:
    a, b = pair
    assert a.control.health()["edge"] is True
    a.control.clear_faults()
    yield a, b
    a.control.clear_faults()


def python_tail(client: WorkerClient, n: int = 30) -> list[str]:
    """The last lines Python printed and its errors, in every isolate (failure messages)."""
    log = client.control.python_log()
    lines = [f"{e['isolate']}: {e['line']}" for e in log["output"][-n:]]
    return lines + [f"{e['isolate']}: {e['kind']} {e['message']}" for e in log["errors"][-n:]]


def isolate_clients(client: WorkerClient) -> list[WorkerClient]:
    """The isolates' own URLs, behind the edge: what a client would get with no edge."""
    urls = client.control.health()["workerUrls"]
    return [WorkerClient(url, client.control_url, "local", client.runtime) for url in urls]


# --- a hit runs no Python ---------------------------------------------------------------------


def test_a_page_the_edge_holds_is_answered_without_running_python_in_any_isolate(
    a_and_b: tuple[WorkerClient, WorkerClient],
) -> None:
    a, b = a_and_b
    stored = served_at_edge(a, "/about")
    a.control.reset_python_log()
    a.control.reset_edge_stats()
    answers = [client.get("/about") for client in (a, b, a, b, a, b)]
    assert [edge_status(r) for r in answers] == ["HIT"] * 6
    assert {r.body for r in answers} == {stored.body}
    assert a.control.python_log()["requests"] == []  # no isolate saw a request
    edge = a.control.edge()
    assert edge["originRequests"] == 0
    assert sum(edge["originByIsolate"].values()) == 0


# --- ISR freshness ----------------------------------------------------------------------------


def test_an_isr_page_is_never_older_than_its_window_plus_the_bound_edge_or_not(
    a_and_b: tuple[WorkerClient, WorkerClient],
) -> None:
    a, b = a_and_b
    limit = PULSE_REVALIDATE_S + BOUND_S
    for clients, label in (([a, b], "edge"), (isolate_clients(a), "no edge")):
        ages: list[float] = []
        stamps: set[float] = set()
        statuses: set[str] = set()
        seen: list[tuple[str, str | None, float]] = []
        # Long enough that a page past the limit shows, whatever its age at the start.
        deadline = time.monotonic() + limit + 1
        i = 0
        while time.monotonic() < deadline:
            response = clients[i % len(clients)].get(PULSE)
            i += 1
            assert response.status == 200, response.text[:300]
            _, at = stamp(response)
            ages.append(time.time() - at)
            stamps.add(at)
            statuses.add(edge_status(response))
            seen.append((edge_status(response), response.headers.get("x-cache-status"), ages[-1]))
            time.sleep(0.15)
        assert max(ages) <= limit, (label, max(ages), limit, seen)
        assert len(stamps) >= 2, (label, "never regenerated", seen, python_tail(a))
        if label == "edge":
            assert "HIT" in statuses, statuses  # the edge did answer some requests
        else:
            assert statuses == {""}, statuses  # no edge on these URLs


# --- on-demand revalidation reaches a client --------------------------------------------------


@pytest.mark.parametrize("mode", ["expire", "stale"])
@pytest.mark.parametrize("by", ["path", "tag"])
def test_a_revalidation_through_one_isolate_reaches_a_client_of_the_other_within_the_bound(
    a_and_b: tuple[WorkerClient, WorkerClient], by: str, mode: str
) -> None:
    a, b = a_and_b
    index = ["expire", "stale"].index(mode)
    if by == "path":
        path = POSTS[index]
        body: dict = {"paths": [path], "mode": mode}
    else:
        path = TAG_PAGES[index]
        body = {"tags": [f"tag:{path.rsplit('/', 1)[-1]}"], "mode": mode}
    held = served_at_edge(b, path)
    # The page may have been regenerated by time already (its window is 60 s): what
    # counts is a page newer than the one the edge held, made after the revalidation.
    since = max(time.time(), stamp(held)[1] + 1.001)
    answer = revalidate(a, body)
    assert answer.status == 200, answer.text
    report = answer.json()
    assert report["d1"] == {"recorded": True}
    assert report["edge"]["reached"] is True, report
    assert report["edge"]["method"] == ("purge" if mode == "expire" else "invalidate")
    elapsed = first_new_page(b, path, since)
    assert elapsed <= BOUND_S + REGENERATION_ALLOWANCE_S


# --- purge failure ----------------------------------------------------------------------------


def test_a_rate_limited_purge_keeps_d1_as_the_record_and_the_retry_brings_the_new_page(
    a_and_b: tuple[WorkerClient, WorkerClient], project: Path, base: Path
) -> None:
    a, b = a_and_b
    path = POSTS[2]
    served_at_edge(b, path)
    a.control.set_faults([{"edge": "purge", "fail": "rate limited", "times": 1}])
    since = time.time()
    answer = revalidate(a, {"paths": [path], "mode": "expire"})
    assert answer.status == 200, answer.text  # D1 took it: no 5xx for an edge failure
    report = answer.json()
    assert report["d1"] == {"recorded": True}
    assert report["edge"]["reached"] is False and report["edge"]["retrying"] is True, report
    assert any("rate limited" in error for error in report["edge"]["errors"]), report
    [mark] = d1_marks(project, base / "state", path)
    assert mark["kind"] == "path" and mark["expired_at"] >= since - 1
    elapsed = first_new_page(b, path, since)  # the retry (1 s later) purged it
    assert elapsed <= BOUND_S + REGENERATION_ALLOWANCE_S
    log = a.control.python_log()
    assert any("rate limited" in entry["line"] for entry in log["output"]), "not logged"


def test_while_every_purge_fails_no_answer_is_a_5xx(
    a_and_b: tuple[WorkerClient, WorkerClient],
) -> None:
    a, b = a_and_b
    path = POSTS[3]
    served_at_edge(b, path)
    a.control.set_faults([{"edge": "*", "fail": "rate limited"}])
    answer = revalidate(a, {"paths": [path], "mode": "expire"})
    assert answer.status == 200 and answer.json()["edge"]["reached"] is False, answer.text
    for client in (a, b, a, b):
        for page in (path, "/", "/blog", PULSE, "/no/such/page"):
            assert client.get(page).status < 500, page


# --- a new build ------------------------------------------------------------------------------


def test_after_a_rebuild_and_restart_no_page_of_the_previous_build_is_served(
    a_and_b: tuple[WorkerClient, WorkerClient], project: Path
) -> None:
    a, b = a_and_b
    path = POSTS[4]
    assert revalidate(a, {"paths": [path], "mode": "expire"}).status == 200
    first_new_page(a, path, time.time() - 1)  # the old build's regenerated page, at the edge
    served_at_edge(a, path)
    built = time.time()
    build(project)
    a.control.restart()  # a new version of the Worker, as a deploy is
    for client in (a, b, a, b):
        phase, at = stamp(client.get(path))
        assert phase == "build" and at >= built - 1, (phase, at, built)


def test_with_cross_version_cache_the_new_build_purges_the_previous_builds_pages(
    runtime_installed: None, tmp_path: Path
) -> None:
    wrangler = (ROOT / "wrangler.toml").read_text()
    shared = wrangler.replace(
        "[cache]\nenabled = true\n", "[cache]\nenabled = true\ncross_version_cache = true\n"
    )
    assert shared != wrangler, "wrangler.toml has no `[cache]\\nenabled = true` to extend"
    root = make_project(tmp_path, shared)
    for (client,) in serve_project(root, tmp_path, edge=True):
        assert client.control.edge()["crossVersionCache"] is True
        path = POSTS[5]
        old = served_at_edge(client, path)
        assert stamp(old)[0] == "build"
        built = time.time()
        build(root)
        client.control.restart()
        kept = client.control.edge()
        assert kept["entries"] > 0  # the edge kept the old version's entries
        step = revalidate(client, {"deploy": True})  # the documented post-deploy step
        assert step.status == 200, step.text
        answer = step.json()
        assert answer["d1"]["swapped"] is True, answer
        assert answer["edge"]["reached"] is True, answer
        swept = build_tag(answer["d1"]["previous"])
        assert answer["build"] != answer["d1"]["previous"]
        held = [entry["tags"] for entry in kept["stored"]]
        assert any(swept in tags for tags in held), (swept, held)
        assert not any(swept in entry["tags"] for entry in client.control.edge()["stored"])
        answers = [client.get(path) for _ in range(3)]
        for response in answers:
            phase, at = stamp(response)
            assert at >= built - 1, ("the previous build's page", edge_status(response), phase)


# --- poisoning with the edge in front ---------------------------------------------------------


@pytest.fixture(scope="module")
def edge_probe(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    """The poisoning probe, built, with `[cache] enabled = true` added to its wrangler.toml."""
    built: Path = request.getfixturevalue("probe_project")
    root = tmp_path_factory.mktemp("edge-poisoning") / "probe"
    shutil.copytree(built, root, symlinks=True)
    wrangler = root / "wrangler.toml"
    wrangler.write_text(wrangler.read_text() + "\n[cache]\nenabled = true\n")
    for clients in serve_project(
        root, tmp_path_factory.mktemp("edge-poisoning-runtime"), edge=True
    ):
        yield clients[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", POISON_CASES, ids=lambda case: case.id)
def test_two_clients_differing_in_one_header_never_see_each_others_page_through_the_edge(
    edge_probe: WorkerClient, case, kind: str
) -> None:
    a_answers, b_answers = visit(edge_probe, case, kind)
    b_answers.append(edge_probe.get(f"/{kind}/{case.id}", case.headers("b")))  # after A again
    for answer in a_answers + b_answers:
        assert answer.status == 200, (edge_status(answer), shown(answer)[:2000])
    for answer in b_answers:
        for mark in case.a_marks:
            assert mark not in shown(answer), (edge_status(answer), shown(answer)[:2000])
    for answer in a_answers:
        for mark in case.b_marks:
            assert mark not in shown(answer), (edge_status(answer), shown(answer)[:2000])
    for answer in a_answers + b_answers:
        if edge_status(answer) in ("HIT", "UPDATING", "STALE", "REVALIDATED") or (
            cache_status(answer) in CACHED
        ):
            assert "set-cookie" not in answer.headers, shown(answer)[:2000]
    assert set_cookies(a_answers).isdisjoint(set_cookies(b_answers))


@pytest.mark.parametrize("kind", KINDS)
def test_a_gzip_body_reaches_only_the_client_that_asked_for_it_through_the_edge(
    edge_probe: WorkerClient, kind: str
) -> None:
    _, b_answers = visit(edge_probe, ACCEPT_ENCODING, kind)
    b_answers.append(edge_probe.get(f"/{kind}/{ACCEPT_ENCODING.id}", ACCEPT_ENCODING.headers("b")))
    for answer in b_answers:
        assert answer.status == 200, shown(answer)[:2000]
        assert "gzip" not in answer.headers.get("content-encoding", ""), shown(answer)[:2000]
        assert not answer.body.startswith(GZIP_MAGIC), (edge_status(answer), answer.body[:200])

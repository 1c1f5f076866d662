"""The shared tier over HTTP: two isolates of the project's Worker in one local runtime,
sharing Miniflare's real KV and D1 (migrated with wrangler), on a copy of the project
with its own build so a rebuild here never disturbs the other tests.

What is checked is what a user sees: which copy of a page an isolate serves (each page
says whether it was made at build time or for a request), and that faults in KV or D1
never turn into a 5xx."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.routing
from seeding.rendering import RenderMode
from tests.worker.conftest import (
    REVALIDATE_SECRET,
    ROOT,
    TARGET,
    HttpResponse,
    WorkerClient,
    serve_project,
    wrangler_without_shared_tier,
)

pytestmark = pytest.mark.skipif(TARGET != "local", reason="two isolates need the local runtime")

TAG_CACHE_SECONDS = 5  # wrangler.toml [vars] TAG_CACHE_SECONDS
POSTS = [  # prerendered posts: ISR pages, revalidated every 60 s
    r.path
    for r in app.routing.site_routes()
    if r.pattern == "/blog/[slug]" and r.mode is RenderMode.PRERENDER
]


def phase(response: HttpResponse) -> str:
    match = re.search(r'data-phase="(\w+)"', response.text)
    assert match, response.text[:300]
    return match.group(1)


def make_project(base: Path, wrangler: str | None = None) -> Path:
    """A copy of this project (its src/, migrations/, public files, wrangler.toml, the
    vendored SDK by symlink), built and copied with the project's own commands."""
    root = base / "project"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "migrations", root / "migrations")
    (root / "public").mkdir()
    for file in (ROOT / "public").iterdir():
        if file.is_file():
            shutil.copy(file, root / "public" / file.name)
    (root / "wrangler.toml").write_text(wrangler or (ROOT / "wrangler.toml").read_text())
    (root / "python_modules").symlink_to(ROOT / "python_modules", target_is_directory=True)
    build(root)
    return root


def build(root: Path) -> None:
    for args in (
        ["scripts/prerender.py", "--out", str(root / "build")],
        ["scripts/copy_prerender.py", str(root / "build"), str(root / "public")],
    ):
        subprocess.run(
            [sys.executable, str(ROOT / args[0]), *args[1:]],
            cwd=root,  # the copy step finds src/ (wrangler.toml main) from here
            check=True,
            capture_output=True,
        )


@pytest.fixture(scope="module")
def project(runtime_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("shared"))


@pytest.fixture(scope="module")
def pair(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WorkerClient]]:
    yield from serve_project(project, tmp_path_factory.mktemp("pair"), isolates=2)


@pytest.fixture
def a_and_b(pair: list[WorkerClient]) -> Iterator[tuple[WorkerClient, WorkerClient]]:
    a, b = pair
    a.control.clear_faults()
    a.control.restart()  # both isolates, fresh memory; KV and D1 keep their data
    yield a, b
    a.control.clear_faults()


def revalidate(client: WorkerClient, body: dict, secret: str = REVALIDATE_SECRET) -> HttpResponse:
    return client.request(
        "POST",
        "/__revalidate",
        {"authorization": f"Bearer {secret}", "content-type": "application/json"},
        json.dumps(body).encode(),
    )


def until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def test_a_page_regenerated_in_a_is_what_b_serves_first(
    a_and_b: tuple[WorkerClient, WorkerClient],
) -> None:
    a, b = a_and_b
    post = POSTS[0]
    assert phase(a.get(post)) == "build"
    assert revalidate(a, {"paths": [post]}).status == 200
    assert a.get(post).headers["x-cache-status"] == "STALE"  # served once, regenerated
    assert until(lambda: phase(a.get(post)) == "request", 10)
    regenerated = a.get(post)

    b.control.reset_asset_log()
    first = b.get(post)
    assert first.status == 200 and first.headers["x-cache-status"] == "HIT"
    assert first.body == regenerated.body  # A's page, not the build's
    assert [f for f in b.control.asset_log() if f["isolate"] == 1] == []  # no seed in B


def test_a_tag_revalidated_through_a_reaches_b_within_the_bound(
    a_and_b: tuple[WorkerClient, WorkerClient],
) -> None:
    a, b = a_and_b
    tag_page = next(r.path for r in app.routing.site_routes() if r.pattern == "/tags/[tag]")
    tag = tag_page.rsplit("/", 1)[-1]
    assert phase(b.get(tag_page)) == "build"
    answer = revalidate(a, {"tags": [f"tag:{tag}"]})
    assert answer.status == 200, answer.text
    started = time.monotonic()
    # B trusts its copy of the revalidation times for TAG_CACHE_SECONDS, then refreshes it
    # in the background of the next request: the page after that is regenerated.
    assert until(lambda: phase(b.get(tag_page)) == "request", TAG_CACHE_SECONDS + 10)
    assert time.monotonic() - started < TAG_CACHE_SECONDS + 10


def test_a_refused_revalidation_changes_nothing(
    a_and_b: tuple[WorkerClient, WorkerClient],
) -> None:
    a, _ = a_and_b
    a.control.reset_binding_log()
    assert revalidate(a, {"paths": [POSTS[1]]}, secret="wrong-secret-of-some-length").status == 401
    assert revalidate(a, {"tags": ["x" * 257]}).status == 400
    assert a.control.binding_log() == []  # D1 was not even asked


def test_kv_and_d1_faults_give_no_5xx(a_and_b: tuple[WorkerClient, WorkerClient]) -> None:
    a, b = a_and_b
    a.control.set_faults(
        [
            {"binding": "PAGES", "raise": "KV GET failed: 503 Service Unavailable"},
            {"binding": "CACHE_DB", "raise": "D1_ERROR: database unavailable"},
        ]
    )
    a.control.restart()
    for client in (a, b):
        for path in ["/", POSTS[2], "/blog", "/pulse", "/now", "/no/such/page", POSTS[2]]:
            response = client.get(path)
            assert response.status < 500, (path, response.status)
    assert revalidate(a, {"paths": [POSTS[2]]}).status == 503  # nothing recorded
    slow = [{"binding": "PAGES", "delay_ms": 3000}, {"binding": "CACHE_DB", "delay_ms": 3000}]
    a.control.set_faults(slow)
    a.control.restart()
    response = a.get(POSTS[3], timeout=20)
    assert response.status == 200  # the timeouts gave up; the build's copy answered


def test_after_a_new_build_the_previous_builds_pages_are_never_served(
    a_and_b: tuple[WorkerClient, WorkerClient], project: Path
) -> None:
    a, b = a_and_b
    post = POSTS[4]
    assert revalidate(a, {"paths": [post]}).status == 200
    a.get(post)
    assert until(lambda: phase(a.get(post)) == "request", 10)  # regenerated, now in KV
    build(project)  # a new build id
    a.control.restart()
    response = b.get(post)
    assert phase(response) == "build"  # the new build's copy, not the old build's page
    assert b.get(post).headers["x-cache-status"] == "HIT"


def test_without_the_bindings_the_worker_behaves_as_before(
    runtime_installed: None, tmp_path: Path
) -> None:
    root = make_project(tmp_path, wrangler_without_shared_tier())
    for clients in serve_project(root, tmp_path):
        worker = clients[0]
        seeded = worker.get("/about")
        assert seeded.headers["x-cache-status"] == "HIT" and phase(seeded) == "build"
        assert worker.get("/blog/single-flight-rendering").headers["x-cache-status"] == "MISS"
        assert worker.get("/blog/single-flight-rendering").headers["x-cache-status"] == "HIT"
        assert worker.get("/now").headers["x-cache-status"] == "MISS"
        assert revalidate(worker, {"paths": ["/about"]}).status == 503  # no D1: nothing to do
        assert worker.control.binding_log() == []
        assert worker.control.python_log()["errors"] == []

"""The Starlette example (`examples/starlette-blog`) as a Worker, over HTTP in the local runtime.

The module prepares the example as its README says (dependencies vendored into its
`python_modules/` by runtime.vendor, the stand-in for `pywrangler sync`; the build's two
commands, `seeding-prerender` and `seeding-copy`, run in its folder), then serves a copy of
it once whose `UPSTREAM_URL` names a loopback JSON API the module starts, so `/releases`
renders from a server the tests control. What happened is read from what a user sees (the
cache status header, each page's "Generated at" time, the bytes the build wrote) and from
the runtime's asset-fetch and Python logs. The last tests check what `wrangler deploy`
would upload, and that `bash scripts/dev.sh --project examples/starlette-blog` serves it.
Local runtime only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runtime.local_runtime import LocalRuntimeProcess, http_request, wrangler_dry_run
from runtime.vendor import vendor_project
from tests.loopback import LoopbackServer
from tests.worker.conftest import ROOT, TARGET, HttpResponse, WorkerClient, wait_for

EXAMPLE = ROOT / "examples" / "starlette-blog"
SITE = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["tool"]["seeding"]["site"]
WRANGLER = tomllib.loads((EXAMPLE / "wrangler.toml").read_text())
ASSETS = WRANGLER["assets"]["directory"]
SAMPLE_RELEASES = json.loads((EXAMPLE / "upstream" / "releases.json").read_text())
NEW_RELEASE = {
    "tag_name": "v0.4.0",
    "name": "Regenerated",
    "published_at": "2025-12-01T10:00:00Z",
    "body": "Published after the page was cached.",
}
RELEASES = "/releases"
START_TIMEOUT_S = 600  # dev.sh on a fresh machine: a venv, PyPI, the build, Pyodide


def _quiet(line: str) -> None:
    pass


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"


# --- the upstream JSON API --------------------------------------------------------------------


class ReleasesApi:
    """A loopback server answering GitHub-shaped releases as JSON (or a 500 while `failing`),
    counting the requests it gets."""

    def __init__(self) -> None:
        self.releases: list[dict[str, str]] = []
        self.failing = False
        self.loopback = LoopbackServer("/releases.json", self._answer)
        self.url = self.loopback.url
        self.reset()

    def _answer(self, _headers: object) -> tuple[int, str, bytes]:
        if self.failing:
            return 500, "application/json", b"upstream down"
        return 200, "application/json", json.dumps(self.releases).encode()

    @property
    def requests(self) -> int:
        return self.loopback.requests

    def reset(self) -> None:
        self.releases = list(SAMPLE_RELEASES)
        self.failing = False
        self.loopback.requests = 0

    def publish(self, release: dict[str, str]) -> None:
        self.releases = [release, *self.releases]

    def close(self) -> None:
        self.loopback.close()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_built(request: pytest.FixtureRequest) -> Path:
    """The example folder, vendored and built as its README says."""
    if TARGET != "local":
        pytest.skip(f"the example runs only on the local runtime here (WORKER_TARGET={TARGET})")
    request.getfixturevalue("runtime_installed")
    vendor_project(EXAMPLE, log=_quiet)
    scripts = Path(sys.executable).parent  # this venv holds the package and the app's deps
    _run([str(scripts / "seeding-prerender"), "--site", SITE, "--out", "build"], EXAMPLE)
    _run([str(scripts / "seeding-copy"), "build", ASSETS], EXAMPLE)
    return EXAMPLE


@pytest.fixture(scope="module")
def upstream() -> Iterator[ReleasesApi]:
    api = ReleasesApi()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module")
def served_copy(
    example_built: Path, upstream: ReleasesApi, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the built example whose wrangler.toml points UPSTREAM_URL at the loopback
    API; the build output comes along, so later rebuilds of the example leave it alone."""
    root = tmp_path_factory.mktemp("starlette-blog")
    config = (example_built / "wrangler.toml").read_text()
    pointed = re.sub(r'(?m)^UPSTREAM_URL = ".*"$', f'UPSTREAM_URL = "{upstream.url}"', config)
    assert pointed != config, "wrangler.toml has no UPSTREAM_URL line in [vars]"
    (root / "wrangler.toml").write_text(pointed)
    skip = shutil.ignore_patterns("__pycache__")
    for folder in ("src", ASSETS, "build", "python_modules"):
        shutil.copytree(example_built / folder, root / folder, symlinks=True, ignore=skip)
    return root


@pytest.fixture(scope="module")
def example_worker(
    served_copy: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    # The example enables the edge; these tests are of the Worker's own answers.
    runtime = LocalRuntimeProcess(
        served_copy, tmp_path_factory.mktemp("runtime") / "blog.log", edge=False
    )
    runtime.start()
    try:
        yield WorkerClient(runtime.url, runtime.control, "local", runtime)
    finally:
        runtime.stop()


@pytest.fixture
def api(upstream: ReleasesApi) -> Iterator[ReleasesApi]:
    upstream.reset()
    yield upstream
    upstream.reset()


@pytest.fixture
def fresh(example_worker: WorkerClient) -> WorkerClient:
    """A cold isolate: empty memory cache, nothing seeded yet, logs empty."""
    example_worker.restart()
    return example_worker


# --- what a reader of the tests compares with -------------------------------------------------


def built_page(root: Path, route: str) -> bytes:
    """The bytes the build rendered for `route`."""
    manifest = json.loads((root / "build" / "meta" / "manifest.json").read_text())
    return (root / "build" / manifest["routes"][route]["variants"]["html"]["file"]).read_bytes()


def generated_at(response: HttpResponse) -> datetime:
    """When the page was rendered: every page says so in its footer."""
    match = re.search(r'Generated at\s*<time datetime="([^"]+)"', response.text)
    assert match, response.text[:500]
    return datetime.fromisoformat(match.group(1))


def cache_status(response: HttpResponse) -> str:
    return response.headers.get("x-cache-status", "")


def revalidate_seconds(response: HttpResponse) -> int:
    match = re.search(r"s-maxage=(\d+)", response.headers["cache-control"])
    assert match, response.headers["cache-control"]
    return int(match.group(1))


def log_lines(worker: WorkerClient, text: str) -> list[str]:
    lines = [entry["line"] for entry in worker.python_log()["output"]]
    return [line for line in lines if text in line and line.rstrip().endswith(RELEASES)]


def failed_regenerations(worker: WorkerClient) -> list[str]:
    lines = [entry["line"] for entry in worker.python_log()["output"]]
    return [line for line in lines if "regeneration of" in line and f"{RELEASES} failed" in line]


def no_python_errors(worker: WorkerClient) -> bool:
    return worker.python_log()["errors"] == []


# --- seeding, the cache and what is never cached ----------------------------------------------


def test_a_prerendered_page_is_seeded_into_a_cold_isolate_and_served_without_a_render(
    fresh: WorkerClient, served_copy: Path
) -> None:
    first = fresh.get("/")
    assert first.status == 200, first.text[:2000]
    assert cache_status(first) == "HIT"
    assert first.body == built_page(served_copy, "/")  # the build's bytes: nothing rendered
    [fetch] = fresh.asset_log()
    assert fetch["path"].startswith("/__prerender/packs/") and fetch["status"] == 200

    second = fresh.get("/")
    assert cache_status(second) == "HIT" and second.body == first.body
    assert len(fresh.asset_log()) == 1  # served from memory
    assert no_python_errors(fresh)


def test_cached_routes_ignore_the_query_string(fresh: WorkerClient) -> None:
    page = fresh.get("/")
    tracked = fresh.get("/?utm_source=newsletter")
    assert cache_status(tracked) == "HIT"
    assert tracked.body == page.body


def test_a_dynamic_page_is_rendered_for_every_request_and_never_cached(
    example_worker: WorkerClient,
) -> None:
    for _ in range(2):
        response = example_worker.get("/now")
        assert response.status == 200
        assert cache_status(response) == "MISS"
        assert response.headers["cache-control"] == "no-store"


def test_a_dynamic_page_receives_the_query_string(example_worker: WorkerClient) -> None:
    response = example_worker.get("/search?q=starlette")
    assert response.status == 200
    assert cache_status(response) == "MISS"
    assert "1 result for “starlette”." in response.text
    assert "Hello, Starlette" in response.text


def test_an_unknown_path_answers_the_apps_404_page_every_time(
    example_worker: WorkerClient,
) -> None:
    for path in ("/no-such-page", "/posts/no-such-post", "/no-such-page"):
        response = example_worker.get(path)
        assert response.status == 404
        assert cache_status(response) == "MISS"
        assert "Page not found" in response.text and path in response.text


def test_the_prerendered_files_are_private(fresh: WorkerClient, served_copy: Path) -> None:
    [pack, *_] = sorted((served_copy / ASSETS / "__prerender" / "packs").glob("*.bin"))
    for path in (f"/__prerender/packs/{pack.name}", "/__prerender/"):
        response = fresh.get(path)
        assert response.status == 404
        assert pack.read_bytes() not in response.body
    assert fresh.asset_log() == []


def test_a_public_file_is_served_by_the_asset_layer_without_python(fresh: WorkerClient) -> None:
    response = fresh.get("/robots.txt")
    assert response.status == 200
    assert response.text.startswith("User-agent: *")
    assert fresh.python_paths() == []


def test_the_sync_about_endpoint_renders_inside_the_worker(
    fresh: WorkerClient, served_copy: Path
) -> None:
    """A request with Authorization bypasses the shared cache, so the app renders /about:
    Starlette runs its plain `def` endpoint through anyio.to_thread, inline in a Worker."""
    response = fresh.get("/about", {"authorization": "Bearer reader"})
    assert response.status == 200, response.text[:2000]
    assert cache_status(response) == "MISS"
    assert "<h1>About</h1>" in response.text
    built = HttpResponse(200, {}, built_page(served_copy, "/about"))
    assert generated_at(response) > generated_at(built)  # rendered now, not the build's copy
    assert no_python_errors(fresh)


def test_a_page_nobody_prerendered_is_rendered_once_then_served_from_memory(
    fresh: WorkerClient,
) -> None:
    path = "/posts/on-demand-pages"
    with_query = fresh.get(path + "?ref=home")  # rendered, answered, but not stored
    first = fresh.get(path)
    second = fresh.get(path)
    assert [cache_status(r) for r in (with_query, first, second)] == ["MISS", "MISS", "HIT"]
    assert second.body == first.body


# --- ISR from the upstream API ----------------------------------------------------------------


def test_the_releases_page_renders_from_the_upstream_and_is_cached(
    fresh: WorkerClient, api: ReleasesApi
) -> None:
    first = fresh.get(RELEASES)
    assert first.status == 200, first.text[:2000]
    assert cache_status(first) == "MISS"
    assert "v0.3.0" in first.text and "Cache tags" in first.text
    assert first.headers["cache-control"].startswith("s-maxage=")
    second = fresh.get(RELEASES)
    assert cache_status(second) == "HIT" and second.body == first.body
    assert api.requests == 1


def the_new_release_served(worker: WorkerClient) -> HttpResponse | bool:
    """Within 15 s, the releases page as a HIT that lists NEW_RELEASE (False: it never was)."""
    return wait_for(
        lambda: (r := worker.get(RELEASES)).headers["x-cache-status"] == "HIT"
        and NEW_RELEASE["tag_name"] in r.text
        and r,
        timeout=15,
    )


def test_a_stale_releases_page_is_served_at_once_then_regenerated_from_the_upstream(
    fresh: WorkerClient, api: ReleasesApi
) -> None:
    first = fresh.get(RELEASES)
    assert cache_status(first) == "MISS"
    api.publish(NEW_RELEASE)
    time.sleep(revalidate_seconds(first) + 0.3)

    stale = fresh.get(RELEASES)
    assert cache_status(stale) == "STALE"
    assert stale.body == first.body  # the old page, at once
    regenerated = the_new_release_served(fresh)
    assert regenerated, "the regeneration did not land"
    assert api.requests == 2
    assert len(log_lines(fresh, "regenerated")) == 1


def test_an_upstream_failure_during_regeneration_keeps_the_last_good_page(
    fresh: WorkerClient, api: ReleasesApi
) -> None:
    good = fresh.get(RELEASES)
    assert cache_status(good) == "MISS"
    api.failing = True
    time.sleep(revalidate_seconds(good) + 0.3)

    assert fresh.get(RELEASES).body == good.body  # stale, and its regeneration fails
    [failure] = wait_for(lambda: failed_regenerations(fresh), timeout=15)
    assert "keeping the last good page" in failure
    kept = fresh.get(RELEASES)
    assert kept.status == 200 and cache_status(kept) == "STALE"
    assert kept.body == good.body

    # Once the upstream is back, the next try (after the back-off it logged) succeeds.
    api.failing = False
    api.publish(NEW_RELEASE)
    backoff = re.search(r"next try in (\d+) s", failure)
    assert backoff, failure
    time.sleep(int(backoff.group(1)) + 0.3)
    recovered = the_new_release_served(fresh)
    assert recovered, "the page was not regenerated after the upstream came back"


def test_a_failing_upstream_with_nothing_cached_answers_502_and_stores_nothing(
    fresh: WorkerClient, api: ReleasesApi
) -> None:
    api.failing = True
    failed = fresh.get(RELEASES)
    assert failed.status == 502
    assert cache_status(failed) == "MISS"
    assert failed.headers["cache-control"] == "no-store"
    assert "Upstream unavailable" in failed.text

    api.failing = False
    answered = fresh.get(RELEASES)
    assert answered.status == 200 and cache_status(answered) == "MISS"


# --- what `wrangler deploy` uploads -----------------------------------------------------------


@pytest.fixture(scope="module")
def dry_run(example_built: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], str]:
    return wrangler_dry_run(example_built, tmp_path_factory.mktemp("dry-run") / "dist")


def test_the_upload_holds_the_examples_own_modules_and_its_build_identity(
    dry_run: tuple[set[str], str],
) -> None:
    uploaded, _ = dry_run
    source = EXAMPLE / "src"
    own = {p.relative_to(source).as_posix() for p in source.rglob("*.py")}
    assert {"entry.py", "blog_site.py", "blog_app/__init__.py", "prerender_build.py"} <= own
    assert own - uploaded == set()
    assert not any(name.startswith("src/") for name in uploaded)


def test_the_upload_holds_starlette_jinja2_and_the_seeding_core_as_vendored_packages(
    dry_run: tuple[set[str], str],
) -> None:
    uploaded, _ = dry_run
    for module in (
        "starlette/applications.py",
        "jinja2/environment.py",
        "markupsafe/_native.py",
        "seeding/worker.py",
        "seeding/asgi.py",
        "seeding/flow/handler.py",
        "workers/__init__.py",
    ):
        assert f"python_modules/{module}" in uploaded
    assert not any(name.startswith("seeding/") for name in uploaded)  # one copy of the core


def test_the_upload_holds_the_public_file_and_the_prerendered_packs(
    dry_run: tuple[set[str], str],
) -> None:
    _, output = dry_run
    assets = EXAMPLE / ASSETS
    packs = {"/" + p.relative_to(assets).as_posix() for p in assets.rglob("*.bin")}
    assert packs, "no prerendered packs: the build did not run"
    listed = set(re.findall(r"(?m)^(/\S*)$", output))
    assert {"/robots.txt", *packs} <= listed
    assert "env.ASSETS" in output and "env.UPSTREAM_URL" in output


# --- the one command --------------------------------------------------------------------------


def _ready_line(process: subprocess.Popen[str], lines: list[str]) -> dict[str, Any] | None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.startswith("LOCAL_RUNTIME_READY "):
            return dict(json.loads(line.split(" ", 1)[1]))
    return None


def test_dev_sh_with_project_sets_up_builds_and_serves_the_example(
    example_built: Path,
) -> None:
    command = ["bash", "scripts/dev.sh", "--project", "examples/starlette-blog"]
    command += ["--port", "0", "--control-port", "0", "--no-watch"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: pip, the build, then the runtime
    )
    lines: list[str] = []
    found: list[dict[str, Any] | None] = []
    reader = threading.Thread(target=lambda: found.append(_ready_line(process, lines)))
    reader.start()
    try:
        reader.join(START_TIMEOUT_S)
        assert found and found[0], "dev.sh did not serve:\n" + "".join(lines[-60:])
        home = http_request(found[0]["url"], "GET", "/")
        assert home.status == 200 and cache_status(home) == "HIT"
        assert "Edge Notes" in home.text
        assert http_request(found[0]["url"], "GET", "/robots.txt").status == 200
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(5)

"""README.md's "Use it with your own app", followed as a new user would, on a temporary project.

The files (the app, the site module, entry.py, wrangler.toml, pyproject.toml) and the build
commands (the venv, the install, prerender, copy) are read from that section of the README and
used exactly as written, with its placeholder for a checkout of this repository replaced by
this one; a README edit that breaks them fails here. `pywrangler sync` and `pywrangler dev`
need internet, so their stand-ins run them: runtime.vendor, then the local runtime in test
mode. Local runtime only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.build_leftovers import build_outputs
from runtime.local_runtime import LocalRuntimeProcess
from runtime.vendor import vendor_project
from tests.worker.conftest import ROOT, TARGET, WorkerClient

README = ROOT / "README.md"
SECTION = "## Use it with your own app"
CHECKOUT = "/path/to/lazy-seed-python-worker"
# The README's build commands: what this test runs, in order. Run and deploy commands need
# internet and are stood in for below.
BUILD_COMMANDS = ("python3 -m venv", ".venv/bin/pip install", "mkdir ", ".venv/bin/seeding-")


def own_app_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def fenced_blocks(section: str) -> list[tuple[str, str]]:
    """(language, content) of each fenced code block, its indentation removed."""
    blocks = []
    for match in re.finditer(r"(?m)^( *)```(\w+)\n(.*?)^\1```$", section, re.S):
        indent = len(match.group(1))
        lines = [line[indent:] for line in match.group(3).splitlines()]
        blocks.append((match.group(2), "\n".join(lines) + "\n"))
    return blocks


def readme_files(section: str) -> dict[str, str]:
    """The files the section shows: each block that starts with a `# <path>` comment."""
    files = {}
    for language, content in fenced_blocks(section):
        first, _, rest = content.partition("\n")
        if language in ("python", "toml") and re.fullmatch(r"# [\w./-]+", first):
            files[first[2:]] = rest.replace(CHECKOUT, str(ROOT))
    return files


def readme_build_commands(section: str) -> list[list[str]]:
    commands = []
    for language, content in fenced_blocks(section):
        if language == "sh":
            for line in content.splitlines():
                if line.startswith(BUILD_COMMANDS):
                    commands.append(shlex.split(line.replace(CHECKOUT, str(ROOT))))
    return commands


@pytest.fixture(scope="module")
def own_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if TARGET != "local":
        pytest.skip(f"runs only on the local runtime (WORKER_TARGET={TARGET})")
    request.getfixturevalue("runtime_installed")
    section = own_app_section()
    project = tmp_path_factory.mktemp("own-app") / "my-site"
    files = readme_files(section)
    assert set(files) == {
        "src/my_app.py",
        "src/my_site.py",
        "src/entry.py",
        "wrangler.toml",
        "pyproject.toml",
    }
    for name, content in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(content)
    commands = readme_build_commands(section)
    assert [c[:2] for c in commands] == [
        ["python3", "-m"],
        [".venv/bin/pip", "install"],
        ["mkdir", "-p"],
        [".venv/bin/seeding-prerender", "--site"],
        [".venv/bin/seeding-copy", "build"],
    ]
    # pip builds this checkout: nothing may be left in it (a Worker deployed from the
    # checkout would upload it), and nothing cleans up after the README's own steps.
    before = build_outputs(ROOT)
    for command in commands:
        result = subprocess.run(command, cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    assert build_outputs(ROOT) == before, "pip install of the checkout left files in it"
    vendor_project(project, log=lambda line: None)  # pywrangler sync's stand-in
    return project


@pytest.fixture(scope="module")
def own_worker(
    own_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    log_path = tmp_path_factory.mktemp("runtime") / "own-app.log"
    runtime = LocalRuntimeProcess(own_project, log_path)  # pywrangler dev's stand-in
    runtime.start()
    try:
        yield WorkerClient(runtime.url, runtime.control, "local", runtime)
    finally:
        runtime.stop()


def built_page(project: Path, route: str) -> bytes:
    manifest = json.loads((project / "build" / "meta" / "manifest.json").read_text())
    return (project / "build" / manifest["routes"][route]["variants"]["html"]["file"]).read_bytes()


def test_the_prerendered_home_page_is_seeded_and_served_as_a_hit(
    own_worker: WorkerClient, own_project: Path
) -> None:
    own_worker.restart()
    page = own_worker.get("/")
    assert page.status == 200, page.text[:2000]
    assert page.headers["x-cache-status"] == "HIT"
    assert page.text == "<h1>Hello from a Python Worker</h1>"
    assert page.body == built_page(own_project, "/")
    [fetch] = own_worker.asset_log()
    assert fetch["path"].startswith("/__prerender/packs/") and fetch["status"] == 200
    assert own_worker.python_log()["errors"] == []


def test_the_cached_home_page_ignores_the_query_string(own_worker: WorkerClient) -> None:
    page = own_worker.get("/?utm_source=mail")
    assert page.headers["x-cache-status"] == "HIT"
    assert page.text == "<h1>Hello from a Python Worker</h1>"


def test_a_no_store_page_is_rendered_for_every_request_and_receives_the_query(
    own_worker: WorkerClient,
) -> None:
    for query in ("q=one", "q=two"):
        response = own_worker.get(f"/echo?{query}")
        assert response.status == 200
        assert response.headers["x-cache-status"] == "MISS"
        assert response.json() == {"query": query}


def test_the_private_prerender_files_answer_404(own_worker: WorkerClient) -> None:
    assert own_worker.get("/__prerender/packs/0.bin").status == 404


# --- scripts/dev.sh --project with a route that fails to prerender ---------------------------

NEEDS_ENV_SITE = """
from starlette.responses import HTMLResponse
from starlette.routing import Route

from my_app import app
from seeding.asgi import AsgiSite


async def needs_env(request):
    # The build renders without the Worker's env: this page can only render at run time.
    if "env" not in request.scope:
        raise RuntimeError("this page needs the Worker's env")
    return HTMLResponse("<p>rendered at run time</p>")


app.router.routes.append(Route("/needs-env", needs_env))
SITE = AsgiSite(app, prerender=["/", "/needs-env"])
"""


@pytest.fixture(scope="module")
def failing_project(own_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's project, with a prerender route that fails at build time."""
    project = tmp_path_factory.mktemp("failing") / "my-site"
    shutil.copytree(
        own_project,
        project,
        ignore=shutil.ignore_patterns(".venv", "python_modules", "build", "__prerender*"),
    )
    (project / "src" / "my_site.py").write_text(NEEDS_ENV_SITE)
    return project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dev_sh_stops_on_failed_routes_unless_allowed_then_renders_them_at_run_time(
    failing_project: Path, tmp_path: Path
) -> None:
    dev = ["bash", str(ROOT / "scripts" / "dev.sh"), "--project", str(failing_project)]
    refused = subprocess.run(
        [*dev, "--no-watch", "--port", str(free_port())], capture_output=True, text=True
    )
    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "--allow-failed-routes" in refused.stderr

    port = free_port()
    log = tmp_path / "dev.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*dev, "--allow-failed-routes", "--no-watch", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        client = WorkerClient(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 300
        page = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                page = client.get("/needs-env", timeout=60)
                break
            except OSError:
                time.sleep(1)
        output = log.read_text()
        assert page is not None, output[-3000:]
        assert page.status == 200 and page.text == "<p>rendered at run time</p>"
        assert client.get("/").headers["x-cache-status"] == "HIT"  # the rest was built
        assert "/needs-env: " in output and "this page needs the Worker's env" in output
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

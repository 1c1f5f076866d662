"""Third-party packages in the local runtime, loaded as production loads them: the SDK's package
patches through the runtime's `_cloudflare`, compiled extension modules precompiled by workerd,
MarkupSafe's pure-Python fallback, a local path dependency, and what outbound HTTP can use.

tests/worker/probe_packages is vendored by runtime.vendor (the code behind scripts/vendor_sdk.sh;
its python_modules/ is kept between sessions and reused while the inputs are unchanged) and served
once for the module with this repository's wrangler.toml. Local runtime only.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import pytest

from runtime.local_runtime import LocalRuntimeProcess
from runtime.vendor import VendorError, vendor_project
from tests.loopback import LoopbackServer
from tests.worker.conftest import ROOT, TARGET, WorkerClient

PROBE = Path(__file__).resolve().parent / "probe_packages"
LOOPBACK_ANSWER = "hello from the loopback server"


def _quiet(line: str) -> None:
    pass


@pytest.fixture(scope="module")
def packages_worker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    if TARGET != "local":
        pytest.skip(f"the package probe runs only on the local runtime (WORKER_TARGET={TARGET})")
    request.getfixturevalue("runtime_installed")
    vendor_project(PROBE, log=_quiet)
    root = tmp_path_factory.mktemp("probe_packages")
    shutil.copy(ROOT / "wrangler.toml", root / "wrangler.toml")
    shutil.copytree(PROBE / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "public").mkdir()
    (root / "public" / "robots.txt").write_text("User-agent: *\n")
    (root / "python_modules").symlink_to(PROBE / "python_modules", target_is_directory=True)
    log_path = tmp_path_factory.mktemp("runtime") / "packages.log"
    runtime = LocalRuntimeProcess(root, log_path, edge=False)  # the root's [cache]: not tested here
    runtime.start()
    try:
        yield WorkerClient(runtime.url, runtime.control, "local", runtime)
    finally:
        runtime.stop()


class Greeter(LoopbackServer):
    """A loopback server that answers LOOPBACK_ANSWER and records who asked."""

    def __init__(self) -> None:
        self.probes: list[str | None] = []
        super().__init__("/greeting", self._answer)

    def _answer(self, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        self.probes.append(next((v for k, v in headers.items() if k.lower() == "x-probe"), None))
        return 200, "text/plain", LOOPBACK_ANSWER.encode()


@pytest.fixture
def loopback() -> Iterator[Greeter]:
    server = Greeter()
    try:
        yield server
    finally:
        server.close()


# --- the SDK's package patches ----------------------------------------------------------------


def test_a_sync_starlette_endpoint_answers(packages_worker: WorkerClient) -> None:
    """Starlette runs it through anyio.to_thread.run_sync; Pyodide has no threads, and the SDK's
    patch (loaded through the runtime's _cloudflare) runs it inline."""
    response = packages_worker.get("/starlette/sync")
    assert response.status == 200, response.text[:2000]
    assert response.text == "sync endpoint answered /starlette/sync"


def test_an_async_starlette_endpoint_answers(packages_worker: WorkerClient) -> None:
    response = packages_worker.get("/starlette/async")
    assert response.status == 200, response.text[:2000]
    assert response.text == "async endpoint answered /starlette/async"


def test_an_import_patch_wraps_a_top_level_import_and_its_hook_runs_before_the_first_request(
    packages_worker: WorkerClient,
) -> None:
    report = packages_worker.get("/import-patches").json()
    assert report["events"] == [
        "exec patch entered",
        "module body ran: True",
        "top level: RuntimeError: Cannot use patched_module.blocked() outside of request context",
        "top level: allowed() called",
        "before first request",
    ]
    assert report["in request"] == "blocked() called"


def test_a_module_first_imported_during_a_request_is_imported_unpatched(
    packages_worker: WorkerClient,
) -> None:
    """As in production, where import patches apply to the top level (the snapshot) only."""
    report = packages_worker.get("/import-patches").json()
    assert report["late module body ran"] is True
    assert "late module patched" not in report["events"]


# --- compiled extension modules and pure-Python fallbacks -------------------------------------


def test_fastapi_validates_a_request_body_and_serializes_the_answer(
    packages_worker: WorkerClient,
) -> None:
    response = packages_worker.request(
        "POST",
        "/fastapi/orders",
        headers={"content-type": "application/json"},
        body=b'{"item": "tea", "quantity": "3"}',
    )
    assert response.status == 200, response.text[:2000]
    assert response.json() == {"item": "tea", "quantity": 3, "total_cents": 750}


def test_fastapi_answers_422_naming_the_field_that_fails_validation(
    packages_worker: WorkerClient,
) -> None:
    response = packages_worker.request(
        "POST",
        "/fastapi/orders",
        headers={"content-type": "application/json"},
        body=b'{"item": "tea", "quantity": 0}',
    )
    assert response.status == 422, response.text[:2000]
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "quantity"]
    assert error["type"] == "greater_than"


def test_the_compiled_package_is_vendored_as_its_pyodide_wheel(
    packages_worker: WorkerClient,
) -> None:
    [extension] = (PROBE / "python_modules" / "pydantic_core").glob("*.so")
    assert "wasm32-emscripten" in extension.name
    assert extension.read_bytes()[:4] == b"\0asm"


def test_jinja2_autoescapes_with_markupsafes_pure_python_fallback(
    packages_worker: WorkerClient,
) -> None:
    response = packages_worker.get("/jinja?name=" + quote("<script>alert(1)</script>"))
    assert response.status == 200, response.text[:2000]
    assert response.text == "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert response.headers["x-escape-module"] == "markupsafe._native"


def test_a_local_path_dependency_is_installed_from_its_folder(
    packages_worker: WorkerClient,
) -> None:
    response = packages_worker.get("/local-lib")
    assert response.status == 200, response.text[:2000]
    assert response.text == "hello from a local path dependency"


# --- outbound HTTP ----------------------------------------------------------------------------


def test_pyodide_http_patches_nothing_because_workerd_has_no_xmlhttprequest(
    packages_worker: WorkerClient,
) -> None:
    assert packages_worker.get("/pyodide-http").json() == {
        "js has XMLHttpRequest": False,
        "should_patch": False,
        "urllib patched": False,
        "requests patched": False,
    }


def test_requests_cannot_reach_a_loopback_server_from_the_worker(
    packages_worker: WorkerClient, loopback: Greeter
) -> None:
    """urllib3's Pyodide backend needs XMLHttpRequest too."""
    report = packages_worker.get("/requests?url=" + quote(loopback.url)).json()
    assert report == {"raised": "AttributeError", "message": "XMLHttpRequest"}
    assert loopback.probes == []


def test_workers_fetch_reaches_a_loopback_server_from_python(
    packages_worker: WorkerClient, loopback: Greeter
) -> None:
    report = packages_worker.get("/fetch?url=" + quote(loopback.url)).json()
    assert report == {"status": 200, "body": LOOPBACK_ANSWER}
    assert loopback.probes == ["workers.fetch"]


# --- vendoring (reading a project: tests/unit/test_vendor.py) ---------------------------------


def test_vendoring_again_with_unchanged_inputs_installs_nothing(
    packages_worker: WorkerClient,
) -> None:
    lines: list[str] = []
    assert vendor_project(PROBE, log=lines.append) is False
    assert lines == [f"vendor: {PROBE / 'python_modules'} is up to date (--force reinstalls)"]


def test_a_package_with_no_usable_wheel_fails_naming_it_and_the_fix(tmp_path: Path) -> None:
    """psycopg2-binary ships only native wheels (and an sdist): nothing Pyodide can load."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\ndependencies = ["psycopg2-binary==2.9.10"]\n'
    )
    with pytest.raises(VendorError) as failure:
        vendor_project(tmp_path, log=_quiet)
    message = str(failure.value)
    assert message.startswith(f"{tmp_path / 'pyproject.toml'}: [project] dependencies: ")
    assert "psycopg2-binary: no pure-Python wheel and no Pyodide wheel" in message
    assert "drop the dependency" in message
    assert not (tmp_path / "python_modules").exists()

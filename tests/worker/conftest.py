"""HTTP tests against the Python Worker.

WORKER_TARGET=local (default): the session starts the local runtime (runtime/server.mjs:
Miniflare + Pyodide in workerd) once, in test mode, on free loopback ports, after building the
prerendered pages when the build scripts exist (WORKER_SKIP_BUILD=1 skips that).

WORKER_TARGET=wrangler-dev + WORKER_URL=http://127.0.0.1:8787: the same HTTP tests against a
`wrangler dev` someone runs on a machine with internet. Tests that need the asset log, fault
injection or a restart skip themselves there.

Fixtures:
    worker        WorkerClient for the project's Worker (src/ + public/ of this repository)
    local_worker  the same, but skips unless the target is the local runtime
    isolates      two isolates of the project's Worker sharing KV and D1
    probe_worker  WorkerClient for tests/worker/probe (a tiny Worker that exercises the runtime
                  itself), served with this repository's wrangler.toml; local target only

wrangler.toml enables the edge ([cache]); these fixtures serve the Worker alone (the
runtime's --no-edge), since they test what the isolates answer: their own x-cache-status,
their render counts. tests/worker/test_edge_http.py serves the same project with the edge.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime.local_runtime import (
    ControlClient,
    HttpResponse,
    LocalRuntimeProcess,
    apply_d1_migrations,
    http_request,
    without_storage_bindings,
)

ROOT = Path(__file__).resolve().parents[2]
PROBE_SRC = Path(__file__).resolve().parent / "probe" / "src"
TARGET = os.environ.get("WORKER_TARGET", "local")
CONTROL_TIMEOUT_S = 120
# The on-demand revalidation secret the tests' Worker gets (`--var`, as a secret would be).
REVALIDATE_SECRET = "local-tests-revalidate-secret"


@dataclass
class WorkerClient:
    """What a test talks to: the Worker over real HTTP, and the runtime's control API."""

    base_url: str
    control_url: str | None = None
    target: str = "local"
    runtime: LocalRuntimeProcess | None = field(default=None, repr=False)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30,
    ) -> HttpResponse:
        return http_request(
            self.base_url, method, path, headers=headers, body=body, timeout=timeout
        )

    def get(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> HttpResponse:
        return self.request("GET", path, headers=headers, timeout=timeout)

    def head(self, path: str, headers: dict[str, str] | None = None) -> HttpResponse:
        return self.request("HEAD", path, headers=headers)

    # --- control API (local runtime only): runtime.local_runtime.ControlClient ------------------

    @property
    def has_control(self) -> bool:
        return self.control_url is not None

    @property
    def control(self) -> ControlClient:
        """The control API's client (documented there); skips the test on a target without it."""
        if self.control_url is None:
            pytest.skip(
                f"needs the local runtime's control API (asset log, faults, restart); "
                f"WORKER_TARGET={self.target} has none"
            )
        return ControlClient(self.control_url, timeout=CONTROL_TIMEOUT_S)

    def asset_log(self) -> list[dict[str, Any]]:
        return self.control.asset_log()

    def reset_asset_log(self) -> None:
        self.control.reset_asset_log()

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        self.control.set_faults(faults)

    def clear_faults(self) -> None:
        self.control.clear_faults()

    def restart(self, warm: bool = True) -> dict[str, Any]:
        return self.control.restart(warm)

    def python_log(self) -> dict[str, list[dict[str, Any]]]:
        return self.control.python_log()

    def reset_python_log(self) -> None:
        self.control.reset_python_log()

    def evaluate(self, code: str) -> Any:
        return self.control.evaluate(code)

    def python_paths(self) -> list[str]:
        """Paths (with query) of the requests that reached Python."""
        return [r["path"] for r in self.python_log()["requests"]]


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


@pytest.fixture(scope="session")
def runtime_installed() -> None:
    """node_modules from the lockfile and the vendored workers SDK (python_modules/)."""
    _run(["bash", "scripts/setup-node.sh"], "scripts/setup-node.sh")
    _run(["bash", "scripts/vendor_sdk.sh"], "scripts/vendor_sdk.sh")


@pytest.fixture(scope="session")
def built_site() -> None:
    """Prerender and copy into public/__prerender/, when the build scripts exist."""
    if os.environ.get("WORKER_SKIP_BUILD") == "1":
        return
    if (ROOT / "scripts" / "prerender.py").exists():
        _run([sys.executable, "scripts/prerender.py", "--out", "build"], "prerender.py")
    if (ROOT / "scripts" / "copy_prerender.py").exists() and (ROOT / "build").is_dir():
        _run([sys.executable, "scripts/copy_prerender.py", "build", "public"], "copy_prerender.py")


def _serve(root: Path, log_path: Path) -> Iterator[WorkerClient]:
    runtime = LocalRuntimeProcess(root, log_path, edge=False)
    runtime.start()
    try:
        yield WorkerClient(runtime.url, runtime.control, "local", runtime)
    finally:
        runtime.stop()


def serve_project(
    root: Path,
    base: Path,
    isolates: int = 1,
    vars: dict[str, str] | None = None,
    *,
    edge: bool = False,
) -> Iterator[list[WorkerClient]]:
    """The project at `root` in the local runtime, with its KV and D1 data in a fresh
    folder under `base` (its D1 migrations applied there first, as scripts/dev.sh does)
    and the test secret set: one client per isolate. The isolates answer directly unless
    `edge` (then the edge stand-in is in front when wrangler.toml enables [cache])."""
    persist = base / "state"
    apply_d1_migrations(root, persist)
    runtime = LocalRuntimeProcess(
        root,
        base / "runtime.log",
        isolates=isolates,
        persist_to=persist,
        vars={"REVALIDATE_SECRET": REVALIDATE_SECRET, **(vars or {})},
        edge=edge,
    )
    runtime.start()
    try:
        yield [WorkerClient(url, runtime.control, "local", runtime) for url in runtime.urls]
    finally:
        runtime.stop()


@pytest.fixture(scope="session")
def worker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    if TARGET == "wrangler-dev":
        url = os.environ.get("WORKER_URL", "http://127.0.0.1:8787")
        yield WorkerClient(url, None, "wrangler-dev")
        return
    if TARGET != "local":
        raise pytest.UsageError(f"WORKER_TARGET must be 'local' or 'wrangler-dev', not {TARGET!r}")
    request.getfixturevalue("runtime_installed")
    request.getfixturevalue("built_site")
    for clients in serve_project(ROOT, tmp_path_factory.mktemp("runtime")):
        yield clients[0]


@pytest.fixture(scope="session")
def isolates(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[WorkerClient]]:
    """Two isolates of the project's Worker sharing KV and D1 (local runtime only)."""
    if TARGET != "local":
        pytest.skip(f"two isolates need the local runtime (WORKER_TARGET={TARGET})")
    request.getfixturevalue("runtime_installed")
    request.getfixturevalue("built_site")
    yield from serve_project(ROOT, tmp_path_factory.mktemp("isolates"), isolates=2)


@pytest.fixture
def local_worker(worker: WorkerClient) -> WorkerClient:
    if not worker.has_control:
        pytest.skip(f"needs the local runtime (WORKER_TARGET={TARGET})")
    return worker


def wrangler_without_shared_tier() -> str:
    """This repository's wrangler.toml without its KV and D1 bindings."""
    config = without_storage_bindings((ROOT / "wrangler.toml").read_text())
    assert "kv_namespaces" not in config and "d1_databases" not in config
    return config


@pytest.fixture(scope="session")
def probe_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project holding the probe Worker: this repository's wrangler.toml (copied, so the
    settings are the real ones, less the shared tier's bindings), the probe's src/, a
    small public/ and the vendored SDK."""
    root = tmp_path_factory.mktemp("probe")
    (root / "wrangler.toml").write_text(wrangler_without_shared_tier())
    shutil.copytree(PROBE_SRC, root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    public = root / "public"
    (public / "__prerender").mkdir(parents=True)
    (public / "styles.css").write_text("body { color: #222; }\n")
    (public / "__prerender" / "probe.txt").write_text("private probe file\n")
    (root / "python_modules").symlink_to(ROOT / "python_modules", target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def probe_worker(
    request: pytest.FixtureRequest, probe_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    if TARGET != "local":
        pytest.skip(f"the probe Worker runs only on the local runtime (WORKER_TARGET={TARGET})")
    request.getfixturevalue("runtime_installed")
    log_path = tmp_path_factory.mktemp("runtime") / "probe.log"
    yield from _serve(probe_root, log_path)


def wait_for(predicate: Any, timeout: float = 10, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; return its value (or the last one on timeout)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, show the end of the runtime's output (Python tracebacks land there)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    shown: set[int] = set()  # two clients of one runtime (two isolates) show it once
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, WorkerClient) and value.runtime is not None:
            runtime = value.runtime
            if id(runtime) in shown:
                continue
            shown.add(id(runtime))
            report.sections.append((f"local runtime output ({runtime.log_path})", runtime.tail(80)))

"""The local runtime itself: routing by the real asset layer, Python in a workerd isolate,
module state, ctx.waitUntil, errors, the asset proxy (log and faults) and restart.

Tests on `worker` run the project's Worker (and work against `wrangler dev` too, where they can);
tests on `probe_worker` run tests/worker/probe, a tiny Worker made to observe the runtime.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.worker.conftest import ROOT, WorkerClient, wait_for

WRANGLER = tomllib.loads((ROOT / "wrangler.toml").read_text())
ASSETS_DIR = (ROOT / WRANGLER["assets"]["directory"]).resolve()


# --- the project's Worker ------------------------------------------------------------------------


def test_a_request_reaches_python_and_answers_200(worker: WorkerClient) -> None:
    response = worker.get("/")
    assert response.status == 200, response.text[:500]
    if worker.has_control:
        assert "/" in worker.python_paths()


def test_a_public_file_is_served_by_the_asset_layer_without_python(worker: WorkerClient) -> None:
    stylesheet = ASSETS_DIR / "styles.css"
    assert stylesheet.is_file(), "public/styles.css is part of the example site"
    if worker.has_control:
        worker.reset_python_log()
        worker.reset_asset_log()
    response = worker.get("/styles.css")
    assert response.status == 200
    assert response.body == stylesheet.read_bytes()
    assert response.headers["content-type"].startswith("text/css")
    if worker.has_control:
        assert "/styles.css" not in worker.python_paths()
        assert [f for f in worker.asset_log() if f["path"] == "/styles.css"] == []


def test_prerender_paths_reach_the_worker_first(worker: WorkerClient) -> None:
    """run_worker_first = ["/__prerender/*"]: even an existing file there goes to the Worker."""
    files = sorted(p for p in (ASSETS_DIR / "__prerender").rglob("*") if p.is_file())
    path = "/__prerender/" + (
        files[0].relative_to(ASSETS_DIR / "__prerender").as_posix() if files else "x"
    )
    if worker.has_control:
        worker.reset_python_log()
    response = worker.get(path)
    if files:
        assert response.body != files[0].read_bytes(), "the asset layer served a private file"
    if worker.has_control:
        assert path in worker.python_paths()
    elif not files:
        pytest.skip("no prerendered file to tell the Worker's answer from the asset's")


def test_module_state_of_the_worker_lives_as_long_as_its_isolate(worker: WorkerClient) -> None:
    """The memory cache is module state: a second request in the same isolate fetches nothing
    through ASSETS; after a restart (fresh isolate) the route is seeded again."""
    if not (ASSETS_DIR / "__prerender").is_dir():
        pytest.skip("nothing prerendered")
    worker.restart()
    assert worker.get("/").status == 200
    seeded = [f["path"] for f in worker.asset_log()]
    assert any(p.startswith("/__prerender/") for p in seeded), seeded
    worker.reset_asset_log()
    assert worker.get("/").status == 200
    assert worker.asset_log() == []
    worker.restart()
    assert worker.get("/").status == 200
    assert [f["path"] for f in worker.asset_log()] == seeded


# --- the runtime, observed through the probe Worker -----------------------------------------------


def test_module_state_persists_across_requests_and_restart_resets_it(
    probe_worker: WorkerClient,
) -> None:
    probe_worker.restart()
    assert probe_worker.get("/count").json() == {"requests": 1}
    assert probe_worker.get("/count").json() == {"requests": 2}
    info = probe_worker.restart()
    assert info["warmup"]["ok"], info
    assert probe_worker.get("/count").json() == {"requests": 1}


def test_python_runs_the_pinned_pyodide_for_the_configured_flag(probe_worker: WorkerClient) -> None:
    info = probe_worker.restart()
    package = json.loads((ROOT / "node_modules" / "pyodide" / "package.json").read_text())
    assert info["warmup"]["pyodide"] == package["version"]
    assert "python_workers_20260610" in WRANGLER["compatibility_flags"]
    assert info["warmup"]["python"].startswith("3.14.")


def test_env_assets_is_a_real_fetcher_and_vars_are_bound(probe_worker: WorkerClient) -> None:
    names = list(WRANGLER.get("vars", {}))
    body = probe_worker.get(f"/env?vars={json.dumps(names, separators=(',', ':'))}").json()
    # The SDK wraps env.ASSETS as a fetcher only if it is a JS Fetcher (true of the proxy too).
    assert body["assets_js_class"] == "Fetcher"
    assert body["assets_wrapper"] == "_FetcherWrapper"
    assert body["vars"] == {k: str(v) for k, v in WRANGLER.get("vars", {}).items()}


def test_public_files_and_private_paths_on_the_probe(probe_worker: WorkerClient) -> None:
    probe_worker.reset_python_log()
    assert probe_worker.get("/styles.css").text == "body { color: #222; }\n"
    private = probe_worker.get("/__prerender/probe.txt")
    assert private.text == "probe /__prerender/probe.txt"
    assert probe_worker.python_paths() == ["/__prerender/probe.txt"]


def test_asset_fetches_through_the_binding_are_logged(probe_worker: WorkerClient) -> None:
    probe_worker.reset_asset_log()
    hit = probe_worker.get("/asset?path=/__prerender/probe.txt").json()
    miss = probe_worker.get("/asset?path=/missing.txt").json()
    assert hit == {"status": 200, "body": "private probe file\n"}
    assert miss["status"] == 404
    log = probe_worker.asset_log()
    assert [(f["path"], f["status"], f["fault"]) for f in log] == [
        ("/__prerender/probe.txt", 200, None),
        ("/missing.txt", 404, None),
    ]
    assert all(f["ms"] >= 0 and f["t"] > 0 for f in log)
    probe_worker.reset_asset_log()
    assert probe_worker.asset_log() == []


def test_faults_raise_answer_a_status_or_delay(probe_worker: WorkerClient) -> None:
    path = "/asset?path=/__prerender/probe.txt"
    try:
        probe_worker.set_faults([{"path": "/__prerender/*", "raise": True}])
        raised = probe_worker.get(path).json()
        assert "raised" in raised and "injected fault" in raised["message"]

        probe_worker.set_faults([{"prefix": "/__prerender/", "status": 500}])
        assert probe_worker.get(path).json()["status"] == 500

        probe_worker.set_faults([{"prefix": "/__prerender/", "delay_ms": 300, "times": 1}])
        probe_worker.reset_asset_log()
        assert probe_worker.get(path).json()["status"] == 200
        assert probe_worker.get(path).json()["status"] == 200  # times=1: only the first
        first, second = probe_worker.asset_log()
        assert first["fault"] == "delay 300ms" and first["ms"] >= 290
        assert second["fault"] is None

        probe_worker.set_faults([{"path": "/other/*", "status": 503}])
        assert probe_worker.get(path).json()["status"] == 200  # not matched
    finally:
        probe_worker.clear_faults()
    assert probe_worker.get(path).json()["status"] == 200


def test_faults_survive_a_restart(probe_worker: WorkerClient) -> None:
    try:
        probe_worker.set_faults([{"path": "/__prerender/probe.txt", "status": 502}])
        probe_worker.restart()
        assert probe_worker.get("/asset?path=/__prerender/probe.txt").json()["status"] == 502
    finally:
        probe_worker.clear_faults()


def test_wait_until_runs_the_coroutine_to_completion(probe_worker: WorkerClient) -> None:
    probe_worker.restart()
    assert probe_worker.get("/wait-until?tag=first").text == "scheduled"
    # The task sleeps after the response went out; it must still finish.
    assert wait_for(lambda: probe_worker.get("/background").json() == ["first"], timeout=5)


def test_wait_until_errors_are_logged_with_the_python_traceback(probe_worker: WorkerClient) -> None:
    probe_worker.reset_python_log()
    assert probe_worker.get("/wait-until-fail").status == 200
    errors = wait_for(lambda: probe_worker.python_log()["errors"], timeout=5)
    assert errors and errors[0]["kind"] == "exception in ctx.waitUntil task"
    assert "RuntimeError: probe background failure" in errors[0]["message"]
    assert "Traceback (most recent call last)" in errors[0]["message"]


def test_a_python_exception_answers_500_with_a_readable_traceback(
    probe_worker: WorkerClient,
) -> None:
    probe_worker.reset_python_log()
    response = probe_worker.get("/raise")
    assert response.status == 500
    (error,) = probe_worker.python_log()["errors"]
    assert error["detail"] == "GET /raise"
    assert 'File "/session/metadata/entry.py"' in error["message"]
    assert error["message"].rstrip().endswith("ValueError: probe exception")
    runtime = probe_worker.runtime
    assert runtime is not None
    assert wait_for(lambda: "ValueError: probe exception" in runtime.tail(200), timeout=5)


def test_python_output_is_captured(probe_worker: WorkerClient) -> None:
    probe_worker.reset_python_log()
    probe_worker.get("/print")
    lines = [o["line"] for o in probe_worker.python_log()["output"]]
    assert "probe says hello" in lines


# --- the runtime's configuration -----------------------------------------------------------------


def test_an_unknown_python_flag_is_a_clear_error(tmp_path: Path, runtime_installed: None) -> None:
    config = (ROOT / "wrangler.toml").read_text()
    (tmp_path / "wrangler.toml").write_text(
        config.replace("python_workers_20260610", "python_workers_20990101")
    )
    node = ROOT / "node_modules" / ".bin" / "node"
    result = subprocess.run(
        [str(node), str(ROOT / "runtime" / "server.mjs"), "--root", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "unknown Python runtime flag python_workers_20990101" in result.stderr

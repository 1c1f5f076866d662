"""The Cron Trigger over HTTP: wrangler.toml's `[triggers] crons` runs the Worker's
`scheduled` handler, which keeps D1 bounded by deleting the regeneration leases that have
expired (issue 16, item 8). Fired as `wrangler dev` lets a developer fire it, with
`/cdn-cgi/handler/scheduled?cron=...`, and through the runtime's control API.

What is checked is what a user would see in D1 (with `wrangler d1 execute --local`, the
command they would use): leases of regenerations that have ended go, a lease still held
stays, an on-demand revalidation stays, and the Worker logs no error. Without D1 bound
the trigger does nothing and does not fail."""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from runtime.local_runtime import run_wrangler
from tests.worker.conftest import (
    ROOT,
    TARGET,
    WorkerClient,
    serve_project,
    wrangler_without_shared_tier,
)
from tests.worker.test_shared_tier_http import POSTS, make_project, phase, revalidate, until

pytestmark = pytest.mark.skipif(TARGET != "local", reason="reads D1 through the local runtime")

WRANGLER = tomllib.loads((ROOT / "wrangler.toml").read_text())
CRON = WRANGLER["triggers"]["crons"][0]
DATABASE = WRANGLER["d1_databases"][0]["database_name"]


@pytest.fixture(scope="module")
def project(runtime_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("cron"))


@pytest.fixture(scope="module")
def state_and_worker(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, WorkerClient]]:
    base = tmp_path_factory.mktemp("cron-run")
    for (worker,) in serve_project(project, base):
        yield base / "state", worker


def d1(project: Path, state: Path, sql: str) -> list[dict]:
    """`wrangler d1 execute --local` on the runtime's D1 data, as a developer would."""
    args = ["d1", "execute", DATABASE, "--local", "--persist-to", str(state)]
    result = run_wrangler([*args, "--json", "--command", sql], project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]["results"]


def regenerate(worker: WorkerClient, post: str) -> None:
    """Revalidate `post` and serve it until the regenerated page is what it answers: the
    regeneration took a lease in D1."""
    assert revalidate(worker, {"paths": [post]}).status == 200
    worker.get(post)
    assert until(lambda: phase(worker.get(post)) == "request", 10)


def lease_of(rows: list[dict], post: str) -> dict | None:
    return next((row for row in rows if post in row["key"]), None)


def test_the_cron_trigger_deletes_expired_leases_and_keeps_held_ones(
    state_and_worker: tuple[Path, WorkerClient], project: Path
) -> None:
    state, worker = state_and_worker
    ended, held = POSTS[0], POSTS[1]
    regenerate(worker, ended)
    regenerate(worker, held)
    leases = d1(project, state, "SELECT key, expires_at FROM regeneration_leases")
    assert lease_of(leases, ended) and lease_of(leases, held), leases
    assert all(row["expires_at"] > time.time() for row in leases)  # each lease still runs
    # The lease of `ended` runs out (as after LEASE_SECONDS); the one of `held` does not.
    ended_key = lease_of(leases, ended)["key"]  # type: ignore[index]
    d1(
        project,
        state,
        f"UPDATE regeneration_leases SET expires_at = {time.time() - 1} "
        f"WHERE key = '{ended_key.replace(chr(39), chr(39) * 2)}'",
    )
    worker.control.reset_python_log()
    worker.control.reset_binding_log()

    answer = worker.get(f"/cdn-cgi/handler/scheduled?cron={quote(CRON)}")

    assert (answer.status, answer.text) == (200, "ok")
    after = d1(project, state, "SELECT key FROM regeneration_leases")
    assert lease_of(after, ended) is None
    assert lease_of(after, held) is not None
    marks = d1(project, state, "SELECT name FROM revalidations WHERE kind = 'path'")
    assert {ended, held} <= {row["name"] for row in marks}  # revalidations are not leases
    python = worker.control.python_log()
    assert python["errors"] == []
    assert [(s["cron"], s["outcome"]) for s in python["scheduled"]] == [(CRON, "ok")]
    assert any(f"cron {CRON} pruned" in line["line"] for line in python["output"]), python["output"]
    assert python["requests"] == []  # the trigger is not a request the Worker serves
    deletes = [c for c in worker.control.binding_log() if "DELETE" in c.get("sql", "")]
    assert deletes and all(c["error"] is None for c in deletes)


def test_the_control_api_fires_the_cron_of_wrangler_toml_in_the_chosen_isolate(
    state_and_worker: tuple[Path, WorkerClient], project: Path
) -> None:
    state, worker = state_and_worker
    post = POSTS[2]
    regenerate(worker, post)
    d1(project, state, f"UPDATE regeneration_leases SET expires_at = {time.time() - 1}")
    worker.control.reset_python_log()

    answer = worker.control.scheduled()

    assert answer == {"outcome": "ok", "noRetry": False, "cron": CRON, "isolate": 0}
    assert d1(project, state, "SELECT key FROM regeneration_leases") == []
    assert worker.control.python_log()["errors"] == []
    assert worker.get(post).status == 200  # serving goes on as before


def test_without_d1_the_cron_trigger_does_nothing_and_does_not_fail(
    runtime_installed: None, tmp_path: Path
) -> None:
    root = make_project(tmp_path, wrangler_without_shared_tier())
    for (worker,) in serve_project(root, tmp_path):
        answer = worker.control.scheduled(cron="*/5 * * * *", time_ms=1_700_000_000_000)
        assert answer["outcome"] == "ok" and answer["cron"] == "*/5 * * * *"
        http = worker.get("/cdn-cgi/handler/scheduled?cron=17+*+*+*+*")
        assert (http.status, http.text) == (200, "ok")
        python = worker.control.python_log()
        assert python["errors"] == []
        assert [s["outcome"] for s in python["scheduled"]] == ["ok", "ok"]
        assert python["scheduled"][0]["scheduledTime"] == 1_700_000_000_000
        assert any("pruned 0 D1 rows" in line["line"] for line in python["output"])
        assert worker.control.binding_log() == []  # no storage was asked
        assert worker.get("/").status == 200


def test_a_worker_without_a_scheduled_handler_fails_the_trigger_with_a_logged_error(
    probe_worker: WorkerClient,
) -> None:
    probe_worker.control.reset_python_log()
    answer = probe_worker.control.scheduled(cron="* * * * *")
    assert answer["outcome"] == "exception"
    [error] = probe_worker.control.python_log()["errors"]
    assert error["detail"] == 'scheduled "* * * * *"'
    assert "scheduled" in error["message"] and "AttributeError" in error["message"]
    assert probe_worker.get("/count").status == 200  # the Worker keeps serving

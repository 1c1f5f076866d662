"""scripts/revalidate.py, run as a CMS webhook would run it, against a loopback server
that answers with the Worker's own endpoint logic (`seeding.revalidation`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from seeding.edge.deploys import SweepOutcome, deploy_answer
from seeding.edge.purge import EdgeReport, answer_with_edge
from seeding.edge.tags import build_tag
from seeding.revalidation import RevalidationRequest, handle_revalidation

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "revalidate.py"
SECRET = "webhook-secret"


@dataclass
class Endpoint:
    url: str
    applied: list[RevalidationRequest] = field(default_factory=list)
    requests: int = 0
    store_works: bool = True
    redirect_to: str | None = None
    edge: EdgeReport | None = None  # what the Worker says reached the edge
    # {"deploy": true}: the Worker's build, whether an edge is in front, its sweep
    build: str = "b2"
    edge_in_front: bool = True
    sweep: SweepOutcome | None = None
    deploys: int = 0


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.requests += 1
            if state.redirect_to is not None:
                self.send_response(307)
                self.send_header("location", state.redirect_to)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}

            async def apply(request: RevalidationRequest) -> bool:
                state.applied.append(request)
                return state.store_works

            async def deploy() -> tuple[int, dict[str, object]]:
                state.deploys += 1
                return deploy_answer(state.build, state.sweep, edge=state.edge_in_front)

            answer = asyncio.run(
                handle_revalidation("POST", headers, body, SECRET, apply, deploy=deploy)
            )
            sent = answer.body
            if answer.status == 200 and not answer.deploy:  # as the Worker's endpoint adds it
                sent = answer_with_edge(sent, state.edge)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(sent)))
            self.end_headers()
            self.wfile.write(sent)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/__revalidate"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def run(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REVALIDATE_SECRET"}
    if secret is not None:
        env["REVALIDATE_SECRET"] = secret
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_paths_and_tags_are_revalidated_and_the_answer_printed(endpoint: Endpoint) -> None:
    done = run("--url", endpoint.url, "--path", "/blog/a/", "--path", "/", "--tag", "posts")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["paths"] == ["/blog/a", "/"]
    assert [(r.paths, r.tags, r.mode.value) for r in endpoint.applied] == [
        (("/blog/a", "/"), ("posts",), "stale")
    ]


def test_expire_mode_is_sent(endpoint: Endpoint) -> None:
    assert run("--url", endpoint.url, "--tag", "posts", "--mode", "expire").returncode == 0
    assert endpoint.applied[0].mode.value == "expire"


def test_a_wrong_secret_fails_with_the_workers_message(endpoint: Endpoint) -> None:
    done = run("--url", endpoint.url, "--tag", "posts", secret="guess")
    assert done.returncode == 1 and endpoint.applied == []
    assert "answered 401" in done.stderr and "missing or wrong secret" in done.stderr


def test_a_refused_body_fails_with_the_limit_the_worker_names(endpoint: Endpoint) -> None:
    done = run("--url", endpoint.url, "--tag", "t" * 300)
    assert done.returncode == 1 and "answered 400" in done.stderr and "1 to 256" in done.stderr


def test_a_store_failure_on_the_worker_fails_the_command(endpoint: Endpoint) -> None:
    endpoint.store_works = False
    done = run("--url", endpoint.url, "--tag", "posts")
    assert done.returncode == 1 and "answered 503" in done.stderr


def test_a_redirect_is_not_followed_so_the_secret_stays_put(endpoint: Endpoint) -> None:
    endpoint.redirect_to = endpoint.url + "-elsewhere"
    done = run("--url", endpoint.url, "--tag", "posts")
    assert done.returncode == 1 and "redirect, not followed" in done.stderr
    assert endpoint.requests == 1


def test_a_missing_secret_variable_is_a_usage_error_naming_it(endpoint: Endpoint) -> None:
    done = run("--url", endpoint.url, "--tag", "posts", secret=None)
    assert done.returncode == 2 and "REVALIDATE_SECRET" in done.stderr
    assert endpoint.requests == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--url", "http://127.0.0.1:9/x"], "at least one --path or --tag, or --deploy"),
        (["--url", "http://127.0.0.1:9/x", "--deploy", "--tag", "a"], "--deploy is given alone"),
        (["--url", "http://127.0.0.1:9/x", "--deploy", "--mode", "stale"], "given alone"),
        (["--url", "http://127.0.0.1:9/x", "--tag", "a", "--mode", "purge"], "invalid choice"),
        (["--tag", "a"], "--url"),
        (["--url", "ftp://example.com/x", "--tag", "a"], "not an http(s) URL"),
        (["--url", "http://example.com/x", "--tag", "a"], "unencrypted; use https"),
    ],
    ids=[
        "nothing",
        "deploy with a tag",
        "deploy with a mode",
        "bad mode",
        "no url",
        "not http",
        "plain http",
    ],
)
def test_usage_errors_exit_2_with_the_reason(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2 and message in done.stderr


def test_an_unreachable_worker_fails_with_the_reason() -> None:
    done = run("--url", "http://127.0.0.1:9/x", "--tag", "a", "--timeout", "5")
    assert done.returncode == 1 and "could not reach" in done.stderr


def test_help_names_the_secret_variable_and_the_deploy_step() -> None:
    done = run("--help", secret=None)
    assert done.returncode == 0 and "REVALIDATE_SECRET" in done.stdout
    assert "--deploy" in done.stdout and "cross_version_cache" in done.stdout


def test_the_command_says_the_revalidation_reached_d1_and_the_edge(endpoint: Endpoint) -> None:
    endpoint.edge = EdgeReport("purge", ("posts",), reached=True)
    done = run("--url", endpoint.url, "--tag", "posts", "--mode", "expire")
    assert done.returncode == 0, done.stderr
    assert "D1: recorded (expire)" in done.stderr
    assert "edge: reached (purge posts)" in done.stderr


def test_the_command_says_when_the_edge_was_not_reached_and_exits_3(endpoint: Endpoint) -> None:
    endpoint.edge = EdgeReport(
        "invalidate", ("posts",), reached=False, errors=("10429: rate limited",), retrying=True
    )
    done = run("--url", endpoint.url, "--tag", "posts")
    assert done.returncode == 3
    assert json.loads(done.stdout)["d1"] == {"recorded": True}
    assert "D1: recorded" in done.stderr
    assert "edge: NOT reached (invalidate posts: 10429: rate limited)" in done.stderr
    assert "retrying in the background" in done.stderr


def test_without_an_edge_the_command_says_so_and_succeeds(endpoint: Endpoint) -> None:
    done = run("--url", endpoint.url, "--tag", "posts")
    assert done.returncode == 0 and "edge: none in front" in done.stderr


# --- --deploy: the post-deploy step ---------------------------------------------------


def test_deploy_says_the_new_build_took_over_the_edge_from_the_previous_one(
    endpoint: Endpoint,
) -> None:
    report = EdgeReport("purge", (build_tag("b1"),), reached=True)
    endpoint.sweep = SweepOutcome(True, "b1", report)
    done = run("--url", endpoint.url, "--deploy")
    assert done.returncode == 0, done.stderr
    assert endpoint.deploys == 1 and endpoint.applied == []
    assert json.loads(done.stdout)["d1"] == {"swapped": True, "previous": "b1"}
    assert "deploy: build b2 took over the edge from build b1" in done.stderr
    assert f"edge: reached (purge {build_tag('b1')})" in done.stderr


def test_deploy_of_the_first_recorded_build_says_everything_was_purged(
    endpoint: Endpoint,
) -> None:
    report = EdgeReport("purge", (), reached=True, purge_everything=True)
    endpoint.sweep = SweepOutcome(True, None, report)
    done = run("--url", endpoint.url, "--deploy")
    assert done.returncode == 0, done.stderr
    assert "from no recorded build" in done.stderr and "reached (purge everything)" in done.stderr


def test_deploy_whose_purge_failed_says_the_record_was_put_back_and_exits_3(
    endpoint: Endpoint,
) -> None:
    errors = ("10429: rate limited",)
    endpoint.sweep = SweepOutcome(
        True, "b1", EdgeReport("purge", (build_tag("b1"),), False, errors)
    )
    done = run("--url", endpoint.url, "--deploy")
    assert done.returncode == 3
    assert json.loads(done.stdout)["d1"]["putBack"] is True
    assert "edge: NOT reached" in done.stderr and "10429: rate limited" in done.stderr
    assert "run --deploy again" in done.stderr


@pytest.mark.parametrize(
    "sweep, in_front, said",
    [
        (SweepOutcome(False), True, "the record already names build b2"),
        (None, True, "no D1"),
        (None, False, "no edge in front"),
    ],
    ids=["already current", "no d1", "no edge"],
)
def test_deploy_with_nothing_to_sweep_says_why_and_succeeds(
    endpoint: Endpoint, sweep: SweepOutcome | None, in_front: bool, said: str
) -> None:
    endpoint.sweep, endpoint.edge_in_front = sweep, in_front
    done = run("--url", endpoint.url, "--deploy")
    assert done.returncode == 0, done.stderr
    assert said in done.stderr and "took over" not in done.stderr


def test_deploy_when_the_worker_could_not_read_d1_fails_with_its_message(
    endpoint: Endpoint,
) -> None:
    endpoint.sweep = SweepOutcome(False, problem="D1 did not answer (ConnectionError)")
    done = run("--url", endpoint.url, "--deploy")
    assert done.returncode == 1 and "answered 503" in done.stderr
    assert "D1 did not answer" in done.stderr

"""Test mode's POST /eval: Python run inside the Worker's isolate, answered as JSON. The
benchmarks read the memory cache's statistics through it (bench/memory_budget.py), so no
code path in src/ exists for them."""

from __future__ import annotations

import json

from runtime.local_runtime import http_request
from tests.worker.conftest import WorkerClient


def _eval(client: WorkerClient, payload: object) -> tuple[int, dict]:
    assert client.control_url is not None
    response = http_request(
        client.control_url,
        "POST",
        "/eval",
        headers={"content-type": "application/json"},
        body=json.dumps(payload).encode(),
    )
    return response.status, response.json()


def test_eval_sees_the_isolate_module_state(probe_worker: WorkerClient) -> None:
    probe_worker.restart()
    probe_worker.get("/count")
    probe_worker.get("/count")
    code = "from probe_pkg.state import STATE\nSTATE['requests']"
    assert probe_worker.evaluate(code) == 2
    probe_worker.restart()  # a fresh isolate: module state starts over
    assert probe_worker.evaluate(code) == 0


def test_eval_answers_the_last_expression_as_json(probe_worker: WorkerClient) -> None:
    assert probe_worker.evaluate("x = 20\nx + 22") == 42
    assert probe_worker.evaluate("x = 1") is None  # no expression last: null
    assert probe_worker.evaluate("{'a': (1, 2), 'b': {3}}") == {"a": [1, 2], "b": [3]}
    code = "import dataclasses\n@dataclasses.dataclass\nclass P:\n    n: int = 1\nP()"
    assert probe_worker.evaluate(code) == {"n": 1}
    assert probe_worker.evaluate("object").startswith("<class")  # repr when JSON cannot


def test_eval_errors_answer_the_python_traceback(probe_worker: WorkerClient) -> None:
    status, body = _eval(probe_worker, {"code": "1/0"})
    assert status == 422
    assert "ZeroDivisionError" in body["error"] and "Traceback" in body["error"]
    status, body = _eval(probe_worker, {"code": "def ("})
    assert status == 422 and "SyntaxError" in body["error"]
    status, body = _eval(probe_worker, {})
    assert status == 400 and "code" in body["error"]
    # The Worker still serves after a failed eval.
    assert probe_worker.get("/count").status == 200


def test_eval_reads_the_worker_memory_cache(local_worker: WorkerClient) -> None:
    local_worker.restart()
    assert local_worker.evaluate("import entry\nentry.Default.isolate.handler is None") is True
    assert local_worker.get("/about").status == 200
    stats = local_worker.evaluate("import entry\nentry.Default.isolate.handler.cache.stats")
    assert stats["entries"] >= 1 and stats["bytes"] > 0
    budget = local_worker.evaluate("import entry\nentry.Default.isolate.handler.cache.max_bytes")
    assert stats["bytes"] <= budget

"""Drive the local runtime from Python: start `runtime/server.mjs` in test mode as a
child process, talk to the Worker over HTTP and to the runtime's control API.

Used by the HTTP tests (tests/worker/conftest.py), the benchmarks (bench/) and
scripts/screenshot.py. Only loopback addresses are ever contacted.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> HttpResponse:
    """One request over a fresh connection; redirects are not followed."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        merged: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return HttpResponse(response.status, merged, data)
    finally:
        conn.close()


def control_request(
    control_url: str, method: str, path: str, payload: Any = None, *, timeout: float
) -> Any:
    """One call to the runtime's control API: `payload` sent as JSON, the JSON answer
    returned; any status but 200 raises with the runtime's message."""
    body = None if payload is None else json.dumps(payload).encode()
    response = http_request(
        control_url,
        method,
        path,
        headers={"content-type": "application/json"},
        body=body,
        timeout=timeout,
    )
    if response.status != 200:
        raise RuntimeError(f"control {method} {path}: {response.status} {response.text}")
    return response.json()


class LocalRuntimeProcess:
    """runtime/server.mjs in test mode, as a child process; its output goes to a log file."""

    def __init__(self, root: Path, log_path: Path) -> None:
        self.root = root
        self.log_path = log_path
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.control = ""

    def start(self) -> None:
        node = ROOT / "node_modules" / ".bin" / "node"
        cmd = [
            str(node) if node.exists() else "node",
            str(ROOT / "runtime" / "server.mjs"),
            "--root",
            str(self.root),
            "--port",
            "0",
            "--control-port",
            "0",
            "--exit-on-stdin-close",
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        ready = threading.Event()
        threading.Thread(target=self._pump, args=(ready,), daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or not self.url:
            self.stop()
            raise RuntimeError(f"the local runtime did not start:\n{self.tail()}")

    def _pump(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("w", encoding="utf-8") as log:
            for line in self.proc.stdout:
                self.lines.append(line)
                log.write(line)
                log.flush()
                if line.startswith("LOCAL_RUNTIME_READY "):
                    info = json.loads(line.split(" ", 1)[1])
                    self.url, self.control = info["url"], info["control"]
                    ready.set()
        ready.set()  # the process ended

    def tail(self, n: int = 60) -> str:
        return "".join(self.lines[-n:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

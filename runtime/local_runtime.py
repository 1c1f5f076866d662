"""Drive the local runtime from Python: start `runtime/server.mjs` in test mode as a
child process (one or more isolates), talk to the Worker over HTTP and to the runtime's
control API (`ControlClient`), and apply a project's D1 migrations to the local data the
runtime reads (`apply_d1_migrations`).

Used by the HTTP tests (tests/worker/conftest.py), the benchmarks (bench/) and
scripts/screenshot.py. Only loopback addresses are ever contacted.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

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
    returned; any status but 200 raises RuntimeError with the status and the runtime's
    message (its JSON "error")."""
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
        try:
            message = response.json()["error"]
        except (ValueError, TypeError, KeyError):
            message = response.text
        raise RuntimeError(f"control {method} {path}: {response.status} {message}")
    return response.json()


@dataclass
class ControlClient:
    """The runtime's control API (runtime/README.md, "Control API"), one method a route.

    `isolate` picks one isolate where a route is per isolate; None means every isolate (logs
    merged by time, each entry naming its `isolate`), except for `evaluate`, which runs in
    isolate 0 unless told otherwise. Any answer but 200 raises RuntimeError with the runtime's
    message (a 400 names the bad field)."""

    url: str
    timeout: float = 120

    def call(self, method: str, path: str, payload: Any = None, **query: int | None) -> Any:
        """One route; `query` items that are not None become the query string."""
        params = {name: value for name, value in query.items() if value is not None}
        full = path + ("?" + urlencode(params) if params else "")
        return control_request(self.url, method, full, payload, timeout=self.timeout)

    def health(self) -> dict[str, Any]:
        """{url, isolates: [url of each isolate], testMode, pyodide, persistence}."""
        return self.call("GET", "/health")

    def asset_log(self) -> list[dict[str, Any]]:
        """Every env.ASSETS fetch made by Python since the last reset or restart:
        [{"t": epoch ms, "isolate", "method", "path", "status" (None if it raised), "ms",
        "fault"}]."""
        return self.call("GET", "/asset-log")

    def reset_asset_log(self) -> None:
        self.call("DELETE", "/asset-log")

    def binding_log(self, isolate: int | None = None) -> list[dict[str, Any]]:
        """Every KV and D1 call made by Python, oldest first: [{"t", "isolate", "binding",
        "op", "key" (KV) or "sql" (D1), "ms", "fault", "error" (None unless it raised)}]."""
        return self.call("GET", "/binding-log", isolate=isolate)

    def reset_binding_log(self, isolate: int | None = None) -> None:
        self.call("DELETE", "/binding-log", isolate=isolate)

    def reset_storage(self) -> dict[str, int]:
        """Empty every KV namespace and D1 table of the Worker (the data all isolates
        share; D1's migration record is kept): {binding: entries removed}."""
        return self.call("DELETE", "/storage")["emptied"]

    def faults(self) -> list[dict[str, Any]]:
        return self.call("GET", "/faults")

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        """Replace the fault list (runtime/faults.mjs). An asset fault: exactly one of "path"
        (glob, * matches any characters) or "prefix". A KV or D1 fault: "binding" (its name in
        wrangler.toml), optional "op" and "key" / "sql" (globs). Effects: "raise" (True or a
        message: the call throws), "status" (assets only: answered instead of the asset),
        "delay_ms"; optional "times" (only the first N matching calls). The first matching
        fault applies. Faults survive restart()."""
        self.call("PUT", "/faults", faults)

    def clear_faults(self) -> None:
        self.call("DELETE", "/faults")

    def python_log(self, isolate: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """{"requests": [{t, isolate, method, path, status, ms}] that reached Python,
        "output": [{t, isolate, stream, line}] printed by Python, "errors": [{t, isolate, kind,
        detail, message}]}."""
        return self.call("GET", "/python-log", isolate=isolate)

    def reset_python_log(self, isolate: int | None = None) -> None:
        self.call("DELETE", "/python-log", isolate=isolate)

    def warmup(self, isolate: int | None = None) -> dict[str, Any]:
        """Load Python and import the main module (every isolate unless one is named):
        {ok, pyodide, python, isolate, ms, isolates: [each isolate's result]}."""
        return self.call("POST", "/warmup", isolate=isolate)

    def restart(self, warm: bool = True, isolate: int | None = None) -> dict[str, Any]:
        """Without `isolate`: a fresh workerd process, so every isolate starts over with no
        module state and src/ is re-read. With `isolate`: that isolate alone gets a fresh
        Python (same files). With warm, Python is loaded before this returns. Logs of what
        restarted start empty; KV and D1 data and faults are kept."""
        return self.call("POST", "/restart", warm=None if warm else 0, isolate=isolate)

    def edge(self) -> dict[str, Any]:
        """The edge ([cache] enabled = true): {enabled, version, crossVersionCache, entries,
        bytes, counts: {<Cf-Cache-Status>: n}, originRequests, originByIsolate, purges, log};
        {enabled: False} without it."""
        result: dict[str, Any] = self.call("GET", "/edge")
        return result

    def reset_edge_stats(self) -> None:
        """The edge's counters and logs start over; its entries stay."""
        self.call("DELETE", "/edge/stats")

    def clear_edge(self) -> None:
        """Every edge entry dropped and its counters reset."""
        self.call("DELETE", "/edge")

    def evaluate(self, code: str, isolate: int = 0) -> Any:
        """Run Python `code` inside an isolate (test mode's POST /eval); the value of its last
        line when that is an expression, through JSON. `import entry` is the running Worker."""
        return self.call("POST", "/eval", {"code": code}, isolate=isolate)["value"]


class LocalRuntimeProcess:
    """runtime/server.mjs in test mode, as a child process; its output goes to a log file.

    `isolates` > 1 runs that many isolates of the Worker (`urls[i]` is isolate i, `url` is
    isolate 0); `persist_to` keeps KV and D1 data under that directory (as wrangler's
    --persist-to) instead of the project's .wrangler/state; `vars` set vars and secrets
    (`--var KEY:VALUE`, over [vars] and .dev.vars)."""

    def __init__(
        self,
        root: Path,
        log_path: Path,
        *,
        isolates: int = 1,
        persist_to: Path | None = None,
        vars: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.log_path = log_path
        self.isolates = isolates
        self.persist_to = persist_to
        self.vars = dict(vars or {})
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.urls: list[str] = []
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
            "--isolates",
            str(self.isolates),
            "--exit-on-stdin-close",
        ]
        if self.persist_to is not None:
            cmd += ["--persist-to", str(self.persist_to)]
        for name, value in self.vars.items():
            cmd += ["--var", f"{name}:{value}"]
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
                    self.urls = info.get("isolates") or [self.url]
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


STORAGE_TABLES = ("[[kv_namespaces]]", "[[d1_databases]]")


def without_storage_bindings(wrangler_toml: str) -> str:
    """A wrangler.toml's text without its KV namespaces and D1 databases (each
    `[[kv_namespaces]]` / `[[d1_databases]]` table, up to the next table or a comment
    line before it): the Worker as it runs without a shared tier."""
    kept = []
    dropping = False
    for line in wrangler_toml.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            dropping = stripped in STORAGE_TABLES
        elif dropping and stripped.startswith("#"):
            dropping = False  # a comment starts what comes next
        if not dropping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def run_wrangler(
    args: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The wrangler pinned in package.json, run in `cwd` with the Node 22 of
    node_modules/.bin first on PATH, offline-friendly and never waiting for input: no
    prompts (CI=true: wrangler takes the default answer), no metrics, no banner (the banner
    also checks for a newer wrangler); `env` adds variables. Output is captured; the caller
    reads the exit code."""
    bin_dir = ROOT / "node_modules" / ".bin"
    full_env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "CI": "true",
        "WRANGLER_SEND_METRICS": "false",
        "WRANGLER_HIDE_BANNER": "true",
        **(env or {}),
    }
    return subprocess.run(
        [str(bin_dir / "wrangler"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def wrangler_dry_run(project: Path, outdir: Path) -> tuple[set[str], str]:
    """What `wrangler deploy` would upload from `project`: the files `--dry-run --outdir`
    wrote (relative paths), and wrangler's output, in which (WRANGLER_LOG=debug) every
    asset it read is listed, one "/path" a line. A failed dry run raises with that output."""
    result = run_wrangler(
        ["deploy", "--dry-run", "--outdir", str(outdir)], project, env={"WRANGLER_LOG": "debug"}
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"wrangler deploy --dry-run failed in {project}:\n{output}")
    return {p.relative_to(outdir).as_posix() for p in outdir.rglob("*") if p.is_file()}, output


def apply_d1_migrations(
    root: Path, persist_to: Path | None = None, *, echo: bool = False
) -> list[str]:
    """Apply the D1 migrations of the project at `root`, as `scripts/dev.sh` does before
    serving: `wrangler d1 migrations apply <database_name> --local` for each
    [[d1_databases]] whose migrations_dir (default "migrations") exists (see
    `run_wrangler`). `persist_to` is passed as --persist-to (the runtime's --persist-to must
    match). Answers the database names migrated; a failing migration raises RuntimeError
    with wrangler's output. `echo` prints each command and wrangler's output (dev.sh).
    Run it before the runtime starts, not beside a running one on the same data."""
    config = tomllib.loads((root / "wrangler.toml").read_text(encoding="utf-8"))
    migrated = []
    for database in config.get("d1_databases", []):
        name = database.get("database_name") or database["binding"]
        if not (root / database.get("migrations_dir", "migrations")).is_dir():
            continue
        args = ["d1", "migrations", "apply", name, "--local"]
        if persist_to is not None:
            args += ["--persist-to", str(persist_to)]
        if echo:
            print(f"dev: D1 migrations of {name}: wrangler {' '.join(args)}", flush=True)
        result = run_wrangler(args, root)
        if echo:
            print(result.stdout.rstrip(), flush=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"wrangler {' '.join(args)} (in {root}) failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        migrated.append(name)
    return migrated

"""The local runtime's KV and D1 bindings and its isolates, seen through
tests/worker/probe_bindings (a tiny Worker with a KV namespace, a D1 database with its
migrations, and assets) served in two isolates over a temporary persistence directory:
shared storage, separate module state, persistence across restarts, the binding log and
binding faults; and how wrangler.toml's storage bindings are read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from runtime.local_runtime import LocalRuntimeProcess, apply_d1_migrations, run_wrangler
from tests.worker.conftest import ROOT, TARGET, WorkerClient

PROBE = Path(__file__).resolve().parent / "probe_bindings"
NODE = ROOT / "node_modules" / ".bin" / "node"
LEASE = "/lease?key=regen:/about&ttl=1000"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe project in a temporary folder, with the vendored SDK."""
    root = tmp_path_factory.mktemp("bindings") / "project"
    shutil.copytree(PROBE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "python_modules").symlink_to(ROOT / "python_modules", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bindings") / "state"


@pytest.fixture(scope="module")
def runtime(
    request: pytest.FixtureRequest,
    project: Path,
    state: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalRuntimeProcess]:
    if TARGET != "local":
        pytest.skip(f"the bindings probe runs only on the local runtime (WORKER_TARGET={TARGET})")
    request.getfixturevalue("runtime_installed")
    assert apply_d1_migrations(project, state) == ["bindings-probe-db"]
    log_path = tmp_path_factory.mktemp("runtime") / "bindings.log"
    process = LocalRuntimeProcess(project, log_path, isolates=2, persist_to=state)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def a(runtime: LocalRuntimeProcess) -> WorkerClient:
    """Isolate 0 of the probe."""
    return WorkerClient(runtime.urls[0], runtime.control, "local", runtime)


@pytest.fixture
def b(runtime: LocalRuntimeProcess) -> WorkerClient:
    """Isolate 1 of the probe."""
    return WorkerClient(runtime.urls[1], runtime.control, "local", runtime)


def test_the_runtime_reports_one_url_per_isolate(a: WorkerClient, b: WorkerClient) -> None:
    health = a.control.health()
    assert health["isolates"] == [a.base_url, b.base_url]
    assert a.base_url != b.base_url
    assert health["persistence"]["d1"].endswith("/v3/d1")


def test_a_kv_write_through_one_isolate_is_read_through_the_other(
    a: WorkerClient, b: WorkerClient
) -> None:
    assert a.get("/kv/put?key=greeting&value=hello").json() == {"ok": True}
    assert b.get("/kv/get?key=greeting").json() == {"value": "hello"}
    a.get("/kv/put?" + urlencode({"key": "doc", "value": json.dumps({"n": 1})}))
    assert b.get("/kv/get-json?key=doc").json() == {"value": {"n": 1}}


def test_a_d1_row_written_through_one_isolate_is_read_through_the_other(
    a: WorkerClient, b: WorkerClient
) -> None:
    before = b.get("/notes/count").json()["count"]
    assert a.get("/notes/add?body=from-a").json() == {"changes": 1}
    assert b.get("/notes/count").json() == {"count": before + 1}
    assert b.get("/notes/list").json()["bodies"][-1] == "from-a"


def test_a_d1_batch_writes_every_statement(a: WorkerClient, b: WorkerClient) -> None:
    assert a.get("/batch?a=batch-1&b=batch-2").json() == {"changes": [1, 1]}
    assert b.get("/notes/list").json()["bodies"][-2:] == ["batch-1", "batch-2"]


def test_every_isolate_reads_the_same_assets_and_the_asset_log_names_it(
    a: WorkerClient, b: WorkerClient
) -> None:
    a.control.reset_asset_log()
    expected = {"status": 200, "body": "shared by every isolate\n"}
    assert a.get("/asset?path=/shared.txt").json() == expected
    assert b.get("/asset?path=/shared.txt").json() == expected
    assert [(f["isolate"], f["path"]) for f in a.control.asset_log()] == [
        (0, "/shared.txt"),
        (1, "/shared.txt"),
    ]


def test_each_isolate_keeps_its_own_module_state(a: WorkerClient, b: WorkerClient) -> None:
    a.restart()
    assert a.get("/count").json() == {"requests": 1}
    assert a.get("/count").json() == {"requests": 2}
    assert b.get("/count").json() == {"requests": 1}


def test_the_conditional_upsert_lease_goes_to_one_isolate_until_it_expires(
    a: WorkerClient, b: WorkerClient
) -> None:
    assert a.get(f"{LEASE}&holder=a&now=1000").json() == {"changes": 1}
    assert b.get(f"{LEASE}&holder=b&now=1500").json() == {"changes": 0}
    assert a.get(f"{LEASE}&holder=a&now=1600").json() == {"changes": 1}  # the holder renews
    assert b.get(f"{LEASE}&holder=b&now=9999").json() == {"changes": 1}  # expired: b takes it


def test_kv_and_d1_data_survive_a_restart_of_every_isolate(
    a: WorkerClient, b: WorkerClient
) -> None:
    a.get("/kv/put?key=kept&value=yes")
    a.get("/notes/add?body=kept-row")
    info = a.restart()
    assert [w["ok"] for w in info["warmup"]["isolates"]] == [True, True]
    assert info["isolates"] == [a.base_url, b.base_url]  # same ports after the restart
    assert b.get("/kv/get?key=kept").json() == {"value": "yes"}
    assert "kept-row" in b.get("/notes/list").json()["bodies"]


def test_restarting_one_isolate_resets_only_its_module_state(
    a: WorkerClient, b: WorkerClient
) -> None:
    a.restart()
    a.get("/count")
    b.get("/count")
    info = a.control.restart(isolate=1)
    assert info["url"] == b.base_url and info["warmup"]["ok"]
    assert b.get("/count").json() == {"requests": 1}
    assert a.get("/count").json() == {"requests": 2}
    assert a.control.evaluate("import entry\nentry.REQUESTS['count']", isolate=1) == 1


def test_the_sdk_wraps_the_logged_bindings_as_it_wraps_the_real_ones(a: WorkerClient) -> None:
    assert a.get("/wrappers").json() == {
        "kv": ["_BindingWrapper", "KvNamespace"],
        "db": ["_BindingWrapper", "D1Database"],
        "var": "bindings-probe",
    }


def test_the_binding_log_records_every_kv_and_d1_call_with_its_isolate(
    a: WorkerClient, b: WorkerClient
) -> None:
    a.control.reset_binding_log()
    a.get("/kv/put?key=counted&value=1")
    b.get("/kv/get?key=counted")
    b.get("/notes/count")
    log = a.control.binding_log()
    assert [(e["isolate"], e["binding"], e["op"]) for e in log] == [
        (0, "KV", "put"),
        (1, "KV", "get"),
        (1, "DB", "first"),
    ]
    assert log[0]["key"] == "counted" and log[2]["sql"] == "SELECT COUNT(*) AS n FROM notes"
    assert all(e["fault"] is None and e["error"] is None and e["ms"] >= 0 for e in log)
    assert [e["op"] for e in a.control.binding_log(isolate=1)] == ["get", "first"]
    a.control.reset_binding_log()
    assert a.control.binding_log() == []


def test_a_kv_fault_raises_in_python_and_is_logged(a: WorkerClient) -> None:
    message = "KV PUT failed: 429 Too Many Requests"
    a.control.reset_binding_log()
    try:
        a.control.set_faults([{"binding": "KV", "op": "put", "raise": message, "times": 1}])
        failed = a.get("/kv/put?key=busy&value=1")
        assert failed.status == 500
        assert message in failed.json()["message"]
        assert a.get("/kv/put?key=busy&value=2").json() == {"ok": True}  # times=1
        assert a.get("/kv/get?key=busy").json() == {"value": "2"}  # gets are not faulted
    finally:
        a.control.clear_faults()
    first, second, _ = a.control.binding_log()
    assert (first["op"], first["fault"], first["error"]) == ("put", "raise", message)
    assert (second["fault"], second["error"]) == (None, None)


def test_a_d1_fault_matches_statements_by_their_sql(a: WorkerClient) -> None:
    a.control.reset_binding_log()
    try:
        a.control.set_faults([{"binding": "DB", "sql": "INSERT*", "raise": True}])
        failed = a.get("/notes/add?body=never").json()
        assert "injected fault: DB.run" in failed["message"]
        assert "never" not in a.get("/notes/list").json()["bodies"]  # reads still work
        a.control.set_faults([{"binding": "DB", "op": "all", "delay_ms": 20}])
        assert "bodies" in a.get("/notes/list").json()
    finally:
        a.control.clear_faults()
    faults = [(e["op"], e["fault"]) for e in a.control.binding_log()]
    assert faults == [("run", "raise"), ("all", None), ("all", "delay 20ms")]


def test_binding_faults_survive_a_restart(a: WorkerClient, b: WorkerClient) -> None:
    try:
        a.control.set_faults([{"binding": "KV", "key": "locked*", "raise": "locked"}])
        a.restart()
        assert b.get("/kv/get?key=locked-1").json()["message"].endswith("locked")
        assert b.get("/kv/get?key=open").json() == {"value": None}
    finally:
        a.control.clear_faults()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"binding": "CACHE", "raise": True}, '"binding" must be a binding of wrangler.toml'),
        ({"binding": "KV", "op": "fetch", "raise": True}, '"op" must be one of get,'),
        ({"binding": "KV", "status": 500}, 'unknown key "status"'),
        ({"binding": "DB", "sql": "SELECT*"}, "the fault has no effect"),
        ({"binding": "DB", "raise": True, "times": 0}, '"times" must be a whole number'),
        ({"binding": "ASSETS", "op": "get", "raise": True}, 'unknown key "op"'),
        ({"raise": True}, 'exactly one of "path" (glob) or "prefix"'),
    ],
)
def test_a_fault_that_cannot_apply_is_refused_with_the_reason(
    a: WorkerClient, fault: dict, reason: str
) -> None:
    with pytest.raises(RuntimeError, match="400") as refused:
        a.control.set_faults([fault])
    assert reason in str(refused.value)
    assert a.control.faults() == []


def test_wrangler_d1_execute_reads_what_the_runtime_wrote(
    a: WorkerClient, project: Path, state: Path
) -> None:
    """The runtime keeps D1 data where wrangler does, under the same database id."""
    a.get("/notes/add?body=seen-by-wrangler")
    command = "SELECT body FROM notes WHERE body = 'seen-by-wrangler'"
    args = ["d1", "execute", "bindings-probe-db", "--local", "--persist-to", str(state)]
    result = run_wrangler([*args, "--json", "--command", command], project)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["results"] == [{"body": "seen-by-wrangler"}]


# --- a Worker without KV or D1 -------------------------------------------------------------------


def test_a_worker_without_kv_or_d1_starts_as_before_and_keeps_no_data(
    probe_worker: WorkerClient, probe_root: Path
) -> None:
    health = probe_worker.control.health()
    assert health["persistence"] is None and len(health["isolates"]) == 1
    assert probe_worker.get("/count").status == 200
    assert probe_worker.control.binding_log() == []
    assert not (probe_root / ".wrangler").exists()


# --- wrangler.toml -------------------------------------------------------------------------------


def _config(root: Path) -> dict:
    """runtime/config.mjs's reading of root/wrangler.toml, with its persistence paths."""
    script = (
        "import { readWranglerConfig, persistencePaths } from './runtime/config.mjs';"
        f"const c = readWranglerConfig({json.dumps(str(root))});"
        "console.log(JSON.stringify({kv: c.kvNamespaces, d1: c.d1Databases,"
        " paths: persistencePaths(c)}));"
    )
    result = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)


def _project_with(tmp_path: Path, storage: str) -> Path:
    base = (PROBE / "wrangler.toml").read_text().split("[[kv_namespaces]]")[0]
    (tmp_path / "wrangler.toml").write_text(base + storage)
    return tmp_path


def test_kv_and_d1_ids_are_the_ones_wrangler_dev_uses(
    tmp_path: Path, runtime_installed: None
) -> None:
    root = _project_with(
        tmp_path,
        '[[kv_namespaces]]\nbinding = "A"\nid = "a-id"\npreview_id = "a-preview"\n'
        '[[kv_namespaces]]\nbinding = "B"\nid = "b-id"\n'
        '[[kv_namespaces]]\nbinding = "C"\n'
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "main"\ndatabase_id = "db-id"\n',
    )
    config = _config(root)
    assert [(kv["binding"], kv["id"]) for kv in config["kv"]] == [
        ("A", "a-preview"),
        ("B", "b-id"),
        ("C", "C"),
    ]
    (database,) = config["d1"]
    assert (database["databaseName"], database["id"]) == ("main", "db-id")
    assert database["migrationsDir"] == str(root / "migrations")
    assert config["paths"]["d1"] == str(root / ".wrangler" / "state" / "v3" / "d1")
    assert config["paths"]["kv"] == str(root / ".wrangler" / "state" / "v3" / "kv")


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        ('[[kv_namespaces]]\nid = "x"\n', '[[kv_namespaces]] #1: "binding" must name the variable'),
        ('[[d1_databases]]\nbinding = "DB"\ndatabase_id = 7\n', '"database_id" must be a'),
        ('[kv_namespaces]\nbinding = "KV"\n', "write [[kv_namespaces]] sections"),
        ('[[kv_namespaces]]\nbinding = "PROBE_NAME"\n', 'binding name "PROBE_NAME" is used by'),
    ],
)
def test_a_bad_storage_binding_is_an_error_naming_the_field(
    tmp_path: Path, runtime_installed: None, storage: str, reason: str
) -> None:
    root = _project_with(tmp_path, storage)
    result = subprocess.run(
        [str(NODE), str(ROOT / "runtime" / "server.mjs"), "--root", str(root), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "wrangler.toml: " in result.stderr and reason in result.stderr

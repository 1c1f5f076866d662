"""The local runtime's edge: its stand-in for Workers Cache in front of the Python isolates
when wrangler.toml has `[cache] enabled = true` (runtime/edge-cache.mjs), shown over HTTP
through tests/worker/probe_edge, a Worker whose answers' headers the query chooses.

Each test uses its own paths, so one runtime per module serves them all. Whether Python ran
is read from the isolates' request log (the control API's /python-log): a hit at the edge
never reaches it.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from runtime.local_runtime import HttpResponse, LocalRuntimeProcess
from tests.worker.conftest import ROOT, TARGET, WorkerClient, wait_for

PROBE_SRC = Path(__file__).resolve().parent / "probe_edge" / "src"
_ids = itertools.count()


def _project(base: Path, cache: str | None) -> Path:
    """The probe under `base`, with the repository's compatibility settings and `cache` as
    its [cache] section (None: no section)."""
    repo = tomllib.loads((ROOT / "wrangler.toml").read_text(encoding="utf-8"))
    root = base / "project"
    shutil.copytree(PROBE_SRC, root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "python_modules").symlink_to(ROOT / "python_modules", target_is_directory=True)
    lines = [
        'name = "edge-probe"',
        'main = "src/entry.py"',
        f'compatibility_date = "{repo["compatibility_date"]}"',
        f"compatibility_flags = {json.dumps(repo['compatibility_flags'])}",
    ]
    if cache is not None:
        lines += ["", "[cache]", cache]
    (root / "wrangler.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _serve(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    cache: str | None,
    isolates: int = 1,
) -> Iterator[list[WorkerClient]]:
    if TARGET != "local":
        pytest.skip(f"the edge stand-in is the local runtime's (WORKER_TARGET={TARGET})")
    request.getfixturevalue("runtime_installed")
    base = tmp_path_factory.mktemp("edge")
    process = LocalRuntimeProcess(_project(base, cache), base / "runtime.log", isolates=isolates)
    process.start()
    try:
        yield [WorkerClient(url, process.control, "local", process) for url in process.urls]
    finally:
        process.stop()


@pytest.fixture(scope="module")
def edge_isolates(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[WorkerClient]]:
    """Two isolates behind one edge ([cache] enabled = true)."""
    yield from _serve(request, tmp_path_factory, "enabled = true", isolates=2)


@pytest.fixture
def edge(edge_isolates: list[WorkerClient]) -> WorkerClient:
    return edge_isolates[0]


def page(*headers: str, **params: str | int) -> str:
    """A fresh path of the probe whose answer carries `headers` ("name:value")."""
    query = [f"h={quote(h)}" for h in headers] + [f"{k}={quote(str(v))}" for k, v in params.items()]
    return f"/p{next(_ids)}" + ("?" + "&".join(query) if query else "")


def status(response: HttpResponse) -> str | None:
    return response.headers.get("cf-cache-status")


def python_ran(client: WorkerClient, path: str, isolate: int | None = None) -> int:
    """How many requests for `path` (with query) reached Python."""
    log = client.control.python_log(isolate)["requests"]
    return sum(1 for entry in log if entry["path"] == path)


def cache_op(client: WorkerClient, op: str, **options: object) -> dict[str, object]:
    """ctx.cache.<op>(options) called by the probe's Python."""
    body = json.dumps({"op": op, "options": options}).encode()
    response = client.request("POST", "/cache-op", body=body)
    assert response.status == 200, response.text
    assert status(response) == "DYNAMIC"
    result: dict[str, object] = response.json()
    return result


def stored(client: WorkerClient, path: str) -> dict[str, object]:
    """The edge's entry for `path` (as the control API's GET /edge lists it)."""
    entries = [e for e in client.control.edge()["stored"] if e["path"] == path]
    assert len(entries) == 1, entries
    return entries[0]


MAX_AGE = "cache-control:max-age=600"


# --- a hit runs no Python; the key ------------------------------------------------------------


def test_a_hit_at_the_edge_runs_no_python_in_any_isolate(edge_isolates: list[WorkerClient]) -> None:
    a, b = edge_isolates
    path = page(MAX_AGE)
    first = a.get(path)
    assert (first.status, status(first)) == (200, "MISS")
    before = a.control.edge()["originRequests"]
    for client in (a, b, a):
        again = client.get(path)
        assert status(again) == "HIT"
        assert again.body == first.body
        assert int(again.headers["age"]) >= 0
    assert python_ran(a, path) == 1
    assert python_ran(a, path, isolate=1) == 0
    assert a.control.edge()["originRequests"] == before


def test_the_key_is_path_and_query_in_order_never_the_host(edge: WorkerClient) -> None:
    path = page(MAX_AGE, a=1, b=2)
    assert status(edge.get(path, headers={"Host": "one.example"})) == "MISS"
    assert status(edge.get(path, headers={"Host": "two.example"})) == "HIT"
    swapped = path.replace("a=1&b=2", "b=2&a=1")
    assert swapped != path
    assert status(edge.get(swapped)) == "MISS"
    assert python_ran(edge, path) == 1 and python_ran(edge, swapped) == 1


@pytest.mark.parametrize(
    "header",
    [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-forwarded-host",
        "x-host",
        "x-original-url",
        "x-rewrite-url",
        "forwarded",
    ],
)
def test_a_poisoning_header_gets_its_own_entry(edge: WorkerClient, header: str) -> None:
    path = page(MAX_AGE)
    assert status(edge.get(path)) == "MISS"
    assert status(edge.get(path, headers={header: "evil.example"})) == "MISS"
    assert status(edge.get(path)) == "HIT"
    assert python_ran(edge, path) == 2


def test_x_forwarded_scheme_keys_apart_only_when_not_http_or_https(edge: WorkerClient) -> None:
    path = page(MAX_AGE)
    assert status(edge.get(path)) == "MISS"
    assert status(edge.get(path, headers={"x-forwarded-scheme": "https"})) == "HIT"
    assert status(edge.get(path, headers={"x-forwarded-scheme": "http"})) == "HIT"
    assert status(edge.get(path, headers={"x-forwarded-scheme": "gopher"})) == "MISS"


def test_get_and_head_share_one_entry_and_a_cold_head_is_fetched_as_get(edge: WorkerClient) -> None:
    path = page(MAX_AGE)
    head = edge.head(path)
    assert (head.status, status(head), head.body) == (200, "MISS", b"")
    methods = [e["method"] for e in edge.python_log()["requests"] if e["path"] == path]
    assert methods == ["GET"]
    get = edge.get(path)
    assert status(get) == "HIT"
    assert int(head.headers["content-length"]) == len(get.body) > 0
    assert status(edge.head(path)) == "HIT"
    assert python_ran(edge, path) == 1


def test_other_methods_always_reach_python_marked_dynamic(edge: WorkerClient) -> None:
    path = page(MAX_AGE)
    for _ in range(2):
        response = edge.request("POST", path, body=b"x")
        assert (response.status, status(response)) == (200, "DYNAMIC")
    assert python_ran(edge, path) == 2
    assert status(edge.get(path)) == "MISS"


# --- what is stored -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        ("cache-control:max-age=600", "set-cookie:session=1"),
        ("cache-control:private, max-age=600",),
        ("cache-control:no-store",),
        ("vary:*", "cache-control:max-age=600"),
    ],
    ids=["set-cookie", "private", "no-store", "vary-star"],
)
def test_an_answer_the_edge_must_not_share_is_bypassed(
    edge: WorkerClient, headers: tuple[str, ...]
) -> None:
    path = page(*headers)
    assert [status(edge.get(path)) for _ in range(2)] == ["BYPASS", "BYPASS"]
    assert python_ran(edge, path) == 2


def test_private_set_cookie_stores_the_answer_without_its_cookie(edge: WorkerClient) -> None:
    path = page('cache-control:max-age=600, private="set-cookie"', "set-cookie:session=1")
    first = edge.get(path)
    assert status(first) == "MISS" and first.headers["set-cookie"] == "session=1"
    second = edge.get(path)
    assert status(second) == "HIT" and "set-cookie" not in second.headers


def test_a_request_with_authorization_bypasses_unless_the_answer_allows_sharing(
    edge: WorkerClient,
) -> None:
    auth = {"authorization": "Bearer secret"}
    plain = page(MAX_AGE)
    assert [status(edge.get(plain, headers=auth)) for _ in range(2)] == ["BYPASS", "BYPASS"]
    for directive in ("public, max-age=600", "s-maxage=600", "max-age=600, must-revalidate"):
        shared = page(f"cache-control:{directive}")
        assert status(edge.get(shared, headers=auth)) == "MISS"
        assert status(edge.get(shared, headers=auth)) == "HIT"
        assert status(edge.get(shared)) == "HIT"


@pytest.mark.parametrize("code", [206, 520, 522, 526])
def test_206_and_520_to_526_are_never_stored(edge: WorkerClient, code: int) -> None:
    path = page(MAX_AGE, status=code)
    assert [status(edge.get(path)) for _ in range(2)] == ["DYNAMIC", "DYNAMIC"]
    assert python_ran(edge, path) == 2


def test_vary_keeps_one_entry_per_exact_header_value(edge: WorkerClient) -> None:
    path = page(MAX_AGE, "vary:x-lang", echo="x-lang")
    en, fr = {"x-lang": "en"}, {"x-lang": "fr"}
    assert status(edge.get(path, headers=en)) == "MISS"
    assert status(edge.get(path, headers=fr)) == "MISS"
    hit_en, hit_fr = edge.get(path, headers=en), edge.get(path, headers=fr)
    assert (status(hit_en), status(hit_fr)) == ("HIT", "HIT")
    assert hit_en.text.endswith("x-lang=en") and hit_fr.text.endswith("x-lang=fr")
    assert status(edge.get(path, headers={"x-lang": "EN"})) == "MISS"


def test_cloudflare_cdn_cache_control_wins_and_is_consumed(edge: WorkerClient) -> None:
    path = page(
        "cloudflare-cdn-cache-control:max-age=600",
        "cdn-cache-control:no-store",
        "cache-control:no-store",
    )
    first = edge.get(path)
    assert status(first) == "MISS"
    assert "cloudflare-cdn-cache-control" not in first.headers
    assert first.headers["cache-control"] == "no-store"
    assert status(edge.get(path)) == "HIT"


def test_cdn_cache_control_wins_over_cache_control_and_is_passed_on(edge: WorkerClient) -> None:
    path = page("cdn-cache-control:no-store", MAX_AGE)
    first = edge.get(path)
    assert status(first) == "BYPASS"
    assert first.headers["cdn-cache-control"] == "no-store"
    stored = page("cdn-cache-control:max-age=600", "cache-control:no-store")
    assert [status(edge.get(stored)) for _ in range(2)] == ["MISS", "HIT"]


@pytest.mark.parametrize(("code", "seconds"), [(200, 7200), (301, 1200), (404, 180), (405, 60)])
def test_an_answer_without_cache_control_is_kept_by_heuristic_freshness(
    edge: WorkerClient, code: int, seconds: int
) -> None:
    path = page(status=code)
    assert [status(edge.get(path)) for _ in range(2)] == ["MISS", "HIT"]
    assert stored(edge, path)["lifetime"] == seconds


def test_a_status_without_heuristic_freshness_is_not_kept(edge: WorkerClient) -> None:
    path = page(status=500)
    assert [status(edge.get(path)) for _ in range(2)] == ["DYNAMIC", "DYNAMIC"]


# --- freshness ------------------------------------------------------------------------------


def test_stale_while_revalidate_serves_stale_while_one_revalidation_runs(
    edge: WorkerClient,
) -> None:
    path = page("cache-control:max-age=1, stale-while-revalidate=60")
    assert status(edge.get(path)) == "MISS"
    time.sleep(1.2)
    with ThreadPoolExecutor(4) as pool:
        stale = list(pool.map(lambda _: edge.get(path), range(4)))
    assert {status(r) for r in stale} <= {"UPDATING", "HIT"}
    assert any(status(r) == "UPDATING" and r.text.startswith("n=1 ") for r in stale)
    fresh = edge.get(path)
    deadline = time.monotonic() + 5
    while status(fresh) != "HIT" and time.monotonic() < deadline:
        time.sleep(0.05)
        fresh = edge.get(path)
    assert status(fresh) == "HIT" and fresh.text.startswith("n=2 ")
    assert python_ran(edge, path) == 2


@pytest.mark.parametrize(
    "directives",
    [
        "s-maxage=1, stale-while-revalidate=60",
        "max-age=1, must-revalidate, stale-while-revalidate=60",
        "max-age=1, proxy-revalidate, stale-while-revalidate=60",
    ],
)
def test_s_maxage_and_must_revalidate_turn_stale_while_revalidate_off(
    edge: WorkerClient, directives: str
) -> None:
    path = page(f"cache-control:{directives}")
    assert status(edge.get(path)) == "MISS"
    time.sleep(1.2)
    expired = edge.get(path)
    assert status(expired) == "EXPIRED" and expired.text.startswith("n=2 ")


def test_an_age_header_from_the_worker_counts(edge: WorkerClient) -> None:
    path = page("cache-control:max-age=600", "age:599")
    assert status(edge.get(path)) == "MISS"
    assert int(edge.get(path).headers["age"]) >= 599
    time.sleep(1.2)
    assert status(edge.get(path)) == "EXPIRED"


def test_no_cache_is_stored_but_revalidated_at_every_request(edge: WorkerClient) -> None:
    path = page("cache-control:no-cache", etag='"v1"')
    assert status(edge.get(path)) == "MISS"
    assert stored(edge, path)["noCache"] is True
    again = edge.get(path)
    assert status(again) == "REVALIDATED" and again.text.startswith("n=1 ")
    assert f'{path} "v1"' in edge.get("/conditionals").json()


def test_stale_if_error_serves_the_stored_answer_when_the_worker_fails(edge: WorkerClient) -> None:
    path = page("cache-control:max-age=1, stale-if-error=60")
    assert status(edge.get(path)) == "MISS"
    time.sleep(1.2)
    edge.evaluate("import entry; entry.FAIL_WITH = 500")
    try:
        stale = edge.get(path)
    finally:
        edge.evaluate("import entry; entry.FAIL_WITH = None")
    assert (stale.status, status(stale)) == (200, "STALE")
    assert stale.text.startswith("n=1 ")


def test_a_failed_background_revalidation_keeps_the_stale_entry(edge: WorkerClient) -> None:
    path = page("cache-control:max-age=1, stale-while-revalidate=60")
    assert status(edge.get(path)) == "MISS"
    time.sleep(1.2)
    edge.evaluate("import entry; entry.FAIL_WITH = 500")
    try:
        assert status(edge.get(path)) == "UPDATING"
        assert wait_for(lambda: python_ran(edge, path) == 2, timeout=5)
    finally:
        edge.evaluate("import entry; entry.FAIL_WITH = None")
    kept = edge.get(path)
    assert (kept.status, kept.text.split(" ")[0]) == (200, "n=1")
    assert status(kept) in {"UPDATING", "HIT"}


def test_concurrent_misses_for_one_key_run_python_once(edge: WorkerClient) -> None:
    path = page(MAX_AGE, sleep=1)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: edge.get(path), range(6)))
    assert sorted(status(r) or "" for r in answers) == ["HIT"] * 5 + ["MISS"]
    assert {r.body for r in answers} == {answers[0].body}
    assert python_ran(edge, path) == 1


# --- purge and invalidate -------------------------------------------------------------------


def test_purge_by_tag_matches_case_insensitively_and_the_tag_header_is_never_sent(
    edge: WorkerClient,
) -> None:
    tagged, other = page(MAX_AGE, "cache-tag:Blog,post-1"), page(MAX_AGE, "cache-tag:other")
    for path in (tagged, other):
        first = edge.get(path)
        assert status(first) == "MISS" and "cache-tag" not in first.headers
    assert cache_op(edge, "purge", tags=["BLOG"]) == {"success": True, "errors": []}
    assert status(edge.get(tagged)) == "MISS"
    assert status(edge.get(other)) == "HIT"


def test_an_invalid_tag_is_dropped_and_the_others_kept(edge: WorkerClient) -> None:
    long_tag = "t" * 1025
    path = page(MAX_AGE, f"cache-tag:{long_tag},kept-{next(_ids)}")
    kept = path.split("kept-")[1].split("&")[0]
    assert status(edge.get(path)) == "MISS"
    cache_op(edge, "purge", tags=[long_tag])
    assert status(edge.get(path)) == "HIT"
    cache_op(edge, "purge", tags=[f"kept-{kept}"])
    assert status(edge.get(path)) == "MISS"


def test_purge_by_path_prefix_and_purge_everything(edge: WorkerClient) -> None:
    inside, outside = f"/docs{next(_ids)}/a?h={quote(MAX_AGE)}", page(MAX_AGE)
    prefix = inside.split("/a?")[0]
    for path in (inside, outside):
        assert status(edge.get(path)) == "MISS"
    assert cache_op(edge, "purge", pathPrefixes=[prefix])["success"] is True
    assert (status(edge.get(inside)), status(edge.get(outside))) == ("MISS", "HIT")
    assert cache_op(edge, "purge", purgeEverything=True)["success"] is True
    assert (status(edge.get(inside)), status(edge.get(outside))) == ("MISS", "MISS")


def test_invalidate_marks_stale_and_a_304_keeps_the_stored_body(edge: WorkerClient) -> None:
    path = page(MAX_AGE, "cache-tag:inv", etag='"v1"')
    assert status(edge.get(path)) == "MISS"
    assert status(edge.get(path)) == "HIT"
    assert cache_op(edge, "invalidate", tags=["inv"]) == {"success": True, "errors": []}
    revalidated = edge.get(path)
    assert status(revalidated) == "REVALIDATED"
    assert revalidated.text.startswith("n=1 ")
    assert f'{path} "v1"' in edge.get("/conditionals").json()
    assert status(edge.get(path)) == "HIT"


def test_invalidate_without_a_validator_fetches_anew(edge: WorkerClient) -> None:
    path = page(MAX_AGE, "cache-tag:inv-plain")
    assert status(edge.get(path)) == "MISS"
    cache_op(edge, "invalidate", pathPrefixes=[path.split("?")[0]])
    expired = edge.get(path)
    assert status(expired) == "EXPIRED" and expired.text.startswith("n=2 ")


def test_a_purge_from_one_isolate_clears_the_entry_for_every_isolate(
    edge_isolates: list[WorkerClient],
) -> None:
    a, b = edge_isolates
    path = page(MAX_AGE, "cache-tag:shared-tag")
    assert status(a.get(path)) == "MISS"
    assert status(b.get(path)) == "HIT"
    assert stored(a, path)["tags"] == ["shared-tag"]
    assert cache_op(b, "purge", tags=["shared-tag"])["success"] is True
    assert status(a.get(path)) == "MISS"


def test_a_purge_fault_answers_success_false_and_purges_nothing(edge: WorkerClient) -> None:
    path = page(MAX_AGE, "cache-tag:faulted")
    assert status(edge.get(path)) == "MISS"
    edge.set_faults([{"edge": "purge", "fail": "rate limited", "times": 1}])
    try:
        failed = cache_op(edge, "purge", tags=["faulted"])
        assert failed == {"success": False, "errors": [{"code": 429, "message": "rate limited"}]}
        assert status(edge.get(path)) == "HIT"
        assert cache_op(edge, "purge", tags=["faulted"])["success"] is True
        assert status(edge.get(path)) == "MISS"
    finally:
        edge.clear_faults()
    purges = edge.control.edge()["purges"]
    assert [p["success"] for p in purges if p["options"]["tags"] == ["faulted"]] == [False, True]


def test_a_raise_fault_rejects_the_purge_promise(edge: WorkerClient) -> None:
    edge.set_faults([{"edge": "invalidate", "raise": "edge down", "times": 1}])
    try:
        assert "edge down" in str(cache_op(edge, "invalidate", tags=["x"])["raised"])
    finally:
        edge.clear_faults()


def test_purge_options_are_checked_and_a_python_dict_is_refused(edge: WorkerClient) -> None:
    assert "give tags, pathPrefixes or purgeEverything" in str(cache_op(edge, "purge")["raised"])
    assert "pathPrefixes must start with" in str(
        cache_op(edge, "purge", pathPrefixes=["docs"])["raised"]
    )
    refused = edge.get("/cache-op-dict")
    assert "to_js(options, dict_converter=Object.fromEntries)" in refused.json()["raised"]


def test_python_sees_ctx_cache_but_not_the_runtime_binding(edge: WorkerClient) -> None:
    assert edge.get("/ctx").json() == {"ctx_cache": True, "edge_binding_in_env": False}


def test_the_control_api_counts_statuses_and_requests_that_reached_the_isolates(
    edge: WorkerClient,
) -> None:
    edge.control.reset_edge_stats()
    path = page(MAX_AGE)
    edge.get(path)
    edge.get(path)
    stats = edge.control.edge()
    assert stats["enabled"] is True
    assert (stats["counts"]["MISS"], stats["counts"]["HIT"], stats["originRequests"]) == (1, 1, 1)
    assert [(e["path"], e["cacheStatus"]) for e in stats["log"]] == [(path, "MISS"), (path, "HIT")]


def test_a_full_restart_is_a_new_version_with_its_own_keys(edge: WorkerClient) -> None:
    path = page(MAX_AGE)
    assert status(edge.get(path)) == "MISS"
    version = edge.control.edge()["version"]
    edge.restart()
    assert edge.control.edge()["version"] == version + 1
    assert status(edge.get(path)) == "MISS"


# --- other settings -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_versions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    for clients in _serve(request, tmp_path_factory, "enabled = true\ncross_version_cache = true"):
        yield clients[0]


def test_with_cross_version_cache_a_restart_keeps_the_entries(
    shared_versions: WorkerClient,
) -> None:
    path = page(MAX_AGE)
    assert status(shared_versions.get(path)) == "MISS"
    shared_versions.restart()
    assert status(shared_versions.get(path)) == "HIT"


@pytest.fixture(scope="module")
def no_edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerClient]:
    for clients in _serve(request, tmp_path_factory, None):
        yield clients[0]


def test_without_a_cache_section_every_request_reaches_python_as_before(
    no_edge: WorkerClient,
) -> None:
    path = page(MAX_AGE)
    answers = [no_edge.get(path) for _ in range(2)]
    assert [r.text.split(" ")[0] for r in answers] == ["n=1", "n=2"]
    assert all("cf-cache-status" not in r.headers for r in answers)
    assert no_edge.get("/ctx").json() == {"ctx_cache": False, "edge_binding_in_env": False}
    health = no_edge.control.health()
    assert health["edge"] is False and health["isolates"] == health["workerUrls"]
    assert no_edge.control.edge() == {"enabled": False}
    with pytest.raises(RuntimeError, match=r"add \[cache\] enabled = true"):
        no_edge.set_faults([{"edge": "purge", "fail": True}])

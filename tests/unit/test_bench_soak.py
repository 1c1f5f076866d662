"""The soak (bench/soak/) without a runtime: the oracle, the mix, the fault plan and its
measured share, and the arithmetic of its PASS/FAIL checks."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app import SITE
from bench.soak.checks import (
    ISOLATE_BUDGET,
    MIB,
    Epoch,
    Record,
    evaluate_checks,
    fallback_renders,
    growth_per_request,
    latency_summary,
    rss_limit,
)
from bench.soak.faults import FAULT_TIMES, fault_share, next_fault_count, plan_faults
from bench.soak.gate import Gate
from bench.soak.mix import (
    NOT_FOUND_ROUTE,
    WEIGHTS,
    Probe,
    build_probes,
    make_schedule,
    private_spellings,
    url_of,
)
from bench.soak.oracle import (
    ExpectedPage,
    Oracle,
    check_response,
    expected_page,
    normalize_html,
    normalize_json,
    render_with,
    sha256,
)
from seeding.rendering import RenderRequest
from seeding.routes import Variant

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_795_000_000.0


def render(route: str, variant: str, *, phase: str = "request", now: float = NOW) -> Any:
    return SITE.render_sync(
        RenderRequest(route=route, variant=Variant(variant), now=now, phase=phase)
    )


def as_render(result: Any) -> dict[str, Any]:
    return {"status": result.status, "headers": dict(result.headers), "body": result.body}


def expected_for(route: str, variant: str, *, prerendered: bool, dynamic: bool = False):
    first = as_render(render(route, variant))
    second = as_render(render(route, variant, now=NOW - 3 * 86400 - 3600))
    return expected_page(variant, first, second, prerendered, dynamic)


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    pages = {
        ("/about", "html"): expected_for("/about", "html", prerendered=True),
        ("/about", "data"): expected_for("/about", "data", prerendered=True),
        ("/blog/single-flight-rendering", "html"): expected_for(
            "/blog/single-flight-rendering", "html", prerendered=False
        ),
        ("/now", "html"): expected_for("/now", "html", prerendered=False, dynamic=True),
        ("/now", "data"): expected_for("/now", "data", prerendered=False, dynamic=True),
        ("/nope", "html"): expected_for("/nope", "html", prerendered=False),
    }
    statics = {"styles.css": (sha256(b"body{}"), "text/css")}
    private = frozenset({sha256(b'{"schema": "x", "buildId": "b"}')})
    return Oracle(pages, statics, private)


def page_headers(result: Any, cache: str = "HIT", **extra: str) -> dict[str, str]:
    return {"content-type": result.headers["content-type"], "x-cache-status": cache, **extra}


# --- normalization -----------------------------------------------------------------------------


def test_a_seeded_page_and_a_render_normalize_alike_and_show_their_phase() -> None:
    built = render("/about", "html", phase="build", now=NOW - 86400)
    rendered = render("/about", "html")
    a, b = normalize_html(built.body), normalize_html(rendered.body)
    assert built.body != rendered.body
    assert a.digest == b.digest
    assert (a.phase, b.phase) == ("build", "request")
    assert a.title == "About · Field Notes"
    assert a.alternate == "/about.json"


def test_html_whose_two_stamps_disagree_has_no_phase() -> None:
    body = render("/about", "html").body.replace(
        b'<meta name="generated-phase" content="request">',
        b'<meta name="generated-phase" content="build">',
    )
    assert normalize_html(body).phase is None
    assert normalize_html(b"<html>no stamp</html>").phase is None


def test_json_normalization_drops_the_stamp_and_ignores_key_order() -> None:
    built = render("/about", "data", phase="build", now=NOW - 86400)
    rendered = render("/about", "data")
    a, b = normalize_json(built.body), normalize_json(rendered.body)
    assert a.digest == b.digest and (a.phase, b.phase) == ("build", "request")
    assert (a.route, a.kind, a.status) == ("/about", "about", 200)
    reordered = json.dumps(dict(reversed(list(json.loads(rendered.body).items())))).encode()
    assert normalize_json(reordered).digest == b.digest
    with pytest.raises(ValueError):
        normalize_json(b"[1, 2]")


def test_pages_that_show_the_time_are_compared_by_identity_only(oracle: Oracle) -> None:
    assert oracle.pages[("/about", "html")].digest is not None
    assert oracle.pages[("/nope", "html")].digest is not None
    assert oracle.pages[("/now", "html")].digest is None
    assert oracle.pages[("/now", "data")].digest is None
    assert oracle.pages[("/now", "html")].alternate == "/now.json"


# --- the oracle ------------------------------------------------------------------------------


def page_probe(route: str, variant: str = "html") -> Probe:
    return Probe(url_of(route, variant), "prerendered", "page", route=route, variant=variant)


def test_a_correct_page_passes_and_reports_its_phase(oracle: Oracle) -> None:
    for phase in ("build", "request"):
        for variant in ("html", "data"):
            result = render("/about", variant, phase=phase, now=NOW + 5)
            verdict = check_response(
                page_probe("/about", variant), 200, page_headers(result), result.body, oracle
            )
            assert verdict.ok, verdict.problem
            assert verdict.phase == phase


@pytest.mark.parametrize(
    ("status", "headers", "body_route", "problem"),
    [
        (404, {}, "/about", "status 404"),
        (200, {"content-type": "application/json"}, "/about", "content-type"),
        (200, {"x-cache-status": "MAYBE"}, "/about", "x-cache-status"),
        (200, {}, "/blog", "title"),  # another route's page
    ],
)
def test_a_wrong_page_fails(
    oracle: Oracle, status: int, headers: dict[str, str], body_route: str, problem: str
) -> None:
    result = render(body_route, "html")
    verdict = check_response(
        page_probe("/about"), status, {**page_headers(result), **headers}, result.body, oracle
    )
    assert not verdict.ok
    assert problem in verdict.problem


def test_a_page_that_differs_anywhere_but_its_stamp_fails(oracle: Oracle) -> None:
    result = render("/about", "html")
    tampered = result.body.replace(b"fast pages", b"slow pages")
    assert tampered != result.body
    verdict = check_response(page_probe("/about"), 200, page_headers(result), tampered, oracle)
    assert not verdict.ok and "differs" in verdict.problem
    data = render("/about", "data")
    document = json.loads(data.body)
    document["route"] = "/blog"
    verdict = check_response(
        page_probe("/about", "data"), 200, page_headers(data), json.dumps(document).encode(), oracle
    )
    assert not verdict.ok and "route '/blog'" in verdict.problem


def test_unreadable_or_unstamped_bodies_fail(oracle: Oracle) -> None:
    result = render("/about", "html")
    headers = page_headers(result)
    assert (
        "unreadable" in check_response(page_probe("/about"), 200, headers, b"\xff", oracle).problem
    )
    unstamped = check_response(page_probe("/about"), 200, headers, b"<html></html>", oracle)
    assert "no generation stamp" in unstamped.problem


def test_a_build_time_copy_of_a_route_the_build_did_not_prerender_fails(oracle: Oracle) -> None:
    route = "/blog/single-flight-rendering"
    probe = Probe(route, "on-demand", "page", route=route, variant="html")
    rendered = render(route, "html")
    assert check_response(probe, 200, page_headers(rendered), rendered.body, oracle).ok
    built = render(route, "html", phase="build")
    verdict = check_response(probe, 200, page_headers(built), built.body, oracle)
    assert not verdict.ok and "did not prerender" in verdict.problem


def test_a_dynamic_page_must_be_uncached(oracle: Oracle) -> None:
    probe = Probe("/now", "dynamic", "page", route="/now", variant="html")
    result = render("/now", "html", now=NOW + 1234)  # another time: identity still matches
    no_store = "private, no-cache, no-store, max-age=0, must-revalidate"
    fine = page_headers(result, "MISS", **{"cache-control": no_store})
    assert check_response(probe, 200, fine, result.body, oracle).ok
    cached = page_headers(result, "HIT", **{"cache-control": no_store})
    assert not check_response(probe, 200, cached, result.body, oracle).ok
    public = page_headers(result, "MISS", **{"cache-control": "s-maxage=60"})
    assert not check_response(probe, 200, public, result.body, oracle).ok
    other = render("/about", "html")
    assert not check_response(probe, 200, fine, other.body, oracle).ok


def test_the_404_page_is_checked_like_any_page(oracle: Oracle) -> None:
    probe = Probe("/nope", "unknown", "page", route="/nope", variant="html")
    result = render("/nope", "html")
    assert result.status == 404
    assert check_response(probe, 404, page_headers(result, "MISS"), result.body, oracle).ok
    assert not check_response(probe, 200, page_headers(result, "MISS"), result.body, oracle).ok


def test_redirects_need_308_and_the_exact_location(oracle: Oracle) -> None:
    probe = Probe("/about/", "redirect", "redirect", location="/about")
    assert check_response(probe, 308, {"location": "/about"}, b"", oracle).ok
    assert not check_response(probe, 301, {"location": "/about"}, b"", oracle).ok
    assert not check_response(probe, 308, {"location": "/about/"}, b"", oracle).ok
    assert not check_response(probe, 200, {}, b"", oracle).ok


def test_private_spellings_answer_404_without_private_bytes(oracle: Oracle) -> None:
    probe = Probe("/__prerender/meta/build.json", "private", "private")
    assert check_response(probe, 404, {}, b"Not Found", oracle).ok
    leaked = b'{"schema": "x", "buildId": "b"}'
    assert not check_response(probe, 404, {}, leaked, oracle).ok
    assert not check_response(probe, 404, {}, b"lazy-seed.prerender-shard", oracle).ok
    assert not check_response(probe, 200, {}, b"ok", oracle).ok
    # The asset router may first redirect an encoded spelling to the plain one.
    to_private = {"location": "/__prerender/meta/build.json"}
    assert check_response(probe, 307, to_private, b"", oracle).ok
    assert check_response(probe, 307, {"location": "//%5F_PRERENDER/x"}, b"", oracle).ok
    assert not check_response(probe, 307, {"location": "/about"}, b"", oracle).ok


def test_static_files_must_be_their_bytes(oracle: Oracle) -> None:
    probe = Probe("/styles.css", "static", "static", asset="styles.css")
    css = {"content-type": "text/css; charset=utf-8"}
    assert check_response(probe, 200, css, b"body{}", oracle).ok
    assert not check_response(probe, 200, css, b"body{ }", oracle).ok
    assert not check_response(probe, 404, css, b"body{}", oracle).ok
    assert not check_response(probe, 200, {"content-type": "text/html"}, b"body{}", oracle).ok


# --- the mix ---------------------------------------------------------------------------------

MANIFEST: dict[str, Any] = {
    "basePath": "",
    "trailingSlash": False,
    "routes": {
        "/": {"status": "rendered"},
        "/about": {"status": "rendered"},
        "/blog/hello-world": {"status": "rendered"},
        "/blog/late": {"status": "skipped"},
        "/now": {"status": "skipped"},
    },
}
MODES = {
    "/": "prerender",
    "/about": "prerender",
    "/blog/hello-world": "prerender",
    "/blog/late": "on-demand",
    "/now": "dynamic",
}


def test_the_mix_covers_every_group_with_the_right_expectations() -> None:
    probes = build_probes(
        MANIFEST, MODES, ["styles.css"], ["meta/build.json", "index/0.json"], unknown_count=5
    )
    by_url = {p.url: p for p in probes}
    assert {p.group for p in probes} == set(WEIGHTS)
    assert by_url["/index.json"] == Probe("/index.json", "data", "page", route="/", variant="data")
    assert by_url["/about.json"].route == "/about"
    assert by_url["/now"].group == "dynamic" and by_url["/blog/late"].group == "on-demand"
    assert by_url["/about/"].location == "/about"
    assert by_url["/about/?utm=load"].location == "/about?utm=load"
    assert by_url["/styles.css/"].location == "/styles.css"
    assert "//" not in {p.location for p in probes if p.kind == "redirect"}
    assert by_url["/%61bout"].route == "/about"
    assert by_url["/%zz"].route == NOT_FOUND_ROUTE
    assert by_url["/ABOUT"].route == "/ABOUT"
    assert by_url["/blog/hello-worl"].group == "unknown"
    assert sum(1 for p in probes if p.url.startswith("/missing/")) == 5
    assert all(p.kind == "private" for p in probes if "prerender" in p.url.lower())
    assert len(by_url) == len(probes), "every URL once"


def test_the_mix_refuses_a_base_path() -> None:
    with pytest.raises(ValueError):
        build_probes({**MANIFEST, "basePath": "/docs"}, MODES, [], [])


def test_private_spellings_all_name_the_prefix() -> None:
    spellings = private_spellings(["meta/build.json", "packs/0/1.bin"])
    assert "/__prerender/meta/build.json" in spellings
    assert "/%5F%5Fprerender/meta/build.json" in spellings
    assert all("prerender" in s.lower() for s in spellings)


def test_the_schedule_is_deterministic_and_follows_the_weights() -> None:
    probes = build_probes(MANIFEST, MODES, ["styles.css"], ["meta/build.json"])
    one = make_schedule(probes, 5000, seed=3)
    assert one == make_schedule(probes, 5000, seed=3)
    assert one != make_schedule(probes, 5000, seed=4)
    counts = Counter(p.group for p in one)
    total = sum(WEIGHTS.values())
    for group, weight in WEIGHTS.items():
        assert abs(counts[group] / 5000 - weight / total) < 0.03, group
    only = [p for p in probes if p.group == "static"]
    assert {p.group for p in make_schedule(only, 50, seed=1)} == {"static"}
    with pytest.raises(ValueError):
        make_schedule(probes, 10, seed=1, weights={"nothing": 1})


# --- faults ----------------------------------------------------------------------------------

FILES = ["/__prerender/meta/build.json", "/__prerender/index/0.json"] + [
    f"/__prerender/packs/0/{n}.bin" for n in range(13)
]


def test_fault_plans_are_deterministic_valid_and_limited() -> None:
    plan = plan_faults(FILES, 6, random.Random(7))
    assert plan == plan_faults(FILES, 6, random.Random(7))
    assert len({f["path"] for f in plan}) == 6
    for fault in plan:
        assert set(fault) <= {"path", "raise", "status", "delay_ms", "times"}
        assert fault["path"] in FILES and fault["times"] in FAULT_TIMES
        effects = [k for k in ("raise", "status", "delay_ms") if k in fault]
        assert len(effects) == 1
        if "status" in fault:
            assert fault["status"] in (500, 503)
        if "delay_ms" in fault:
            assert 50 <= fault["delay_ms"] <= 300
    kinds = Counter(
        next(k for k in ("raise", "status", "delay_ms") if k in f)
        for seed in range(50)
        for f in plan_faults(FILES, 3, random.Random(seed))
    )
    assert set(kinds) == {"raise", "status", "delay_ms"}
    assert len(plan_faults(FILES, 99, random.Random(1))) == len(FILES)
    assert plan_faults(FILES, 0, random.Random(1)) == []


def test_the_fault_count_steers_towards_the_target_share() -> None:
    first = next_fault_count(0.1, 0, 0, 28, 15)
    assert 1 <= first <= 3
    assert next_fault_count(0.1, 10, 60, 28, 15) == 0  # already above the target
    assert next_fault_count(0.1, 0, 200, 28, 15) > first  # behind: catch up
    assert next_fault_count(0.1, 0, 10_000, 28, 15) == 15  # clipped to the files there are
    assert next_fault_count(0.0, 0, 100, 28, 15) == 0


def test_the_fault_count_controller_converges_on_a_simulated_run() -> None:
    """Each faulted file: 1.5 faulted fetches, and 3 in 4 of them fail and are fetched again."""
    rng = random.Random(2)
    fetched = faulted = 0
    for _ in range(20):
        count = next_fault_count(0.1, faulted, fetched, 28, 15)
        plan = plan_faults(FILES, count, rng)
        fetched += 28
        for fault in plan:
            faulted += fault["times"]
            if "delay_ms" not in fault:
                fetched += fault["times"]
    assert 0.08 <= faulted / fetched <= 0.12


def test_the_faulted_share_is_read_from_the_asset_log() -> None:
    log = [
        {"path": "/__prerender/meta/build.json", "status": 200, "fault": None},
        {"path": "/__prerender/index/0.json", "status": None, "fault": "raise"},
        {"path": "/__prerender/packs/0/1.bin", "status": 500, "fault": "status 500"},
        {"path": "/__prerender/packs/0/2.bin", "status": 200, "fault": "delay 120ms"},
        {"path": "/__prerender/packs/0/2.bin", "status": 200, "fault": "delay 80ms"},
    ] + [{"path": "/__prerender/packs/0/3.bin", "status": 200, "fault": None}] * 5
    share = fault_share(log)
    assert share == {
        "fetches": 10,
        "faulted": 4,
        "share": 0.4,
        "kinds": {"delay": 2, "raise": 1, "status 500": 1},
    }
    assert fault_share([]) == {"fetches": 0, "faulted": 0, "share": 0.0, "kinds": {}}


# --- statistics and checks ---------------------------------------------------------------------


def test_latency_summary() -> None:
    values = [float(v) for v in range(1, 101)]
    summary = latency_summary(values)
    assert summary["median"] == pytest.approx(50.5)
    assert summary["p95"] == pytest.approx(95.05)
    assert summary["p99"] == pytest.approx(99.01)
    assert summary["max"] == 100 and summary["mean"] == pytest.approx(50.5)
    assert latency_summary([])["p99"] is None


def test_the_rss_bound_is_the_fixed_part_plus_one_isolate() -> None:
    samples = [(224 * MIB, 30 * MIB), (230 * MIB, 30 * MIB)]
    assert rss_limit(samples) == 200 * MIB + ISOLATE_BUDGET
    with pytest.raises(ValueError):
        rss_limit([])


def test_rss_kept_per_request_is_the_median_over_isolates() -> None:
    epochs = [
        Epoch(0, rss_warm=200 * MIB, rss_end=210 * MIB, requests=1000),
        Epoch(1, rss_warm=200 * MIB, rss_end=230 * MIB, requests=1000),
        Epoch(2, rss_warm=200 * MIB, rss_end=220 * MIB, requests=1000),
        Epoch(3, rss_warm=200 * MIB, rss_end=None, requests=1000),  # not measured
        Epoch(4, rss_warm=200 * MIB, rss_end=999 * MIB, requests=0),  # no request
    ]
    assert growth_per_request(epochs) == pytest.approx(20 * MIB / 1000)
    assert growth_per_request([]) is None


def test_fallback_renders_count_prerendered_routes_rendered_on_a_miss() -> None:
    records = [
        Record("prerendered", 200, 1.0, "request", "MISS", True),  # seeding failed
        Record("data", 200, 1.0, "request", "MISS", True),  # seeding failed
        Record("prerendered", 200, 1.0, "request", "HIT", True),  # regenerated earlier
        Record("prerendered", 200, 1.0, "build", "HIT", True),  # seeded
        Record("on-demand", 200, 1.0, "request", "MISS", True),  # never prerendered
    ]
    assert fallback_renders(records) == 2


def good_summary() -> dict[str, Any]:
    return {
        "requests": 100,
        "requested": 100,
        "max_seconds": 900,
        "statuses": {"200": 80, "308": 10, "404": 10},
        "transport_errors": 0,
        "wrong": 0,
        "checked": 100,
        "memory": {
            "rss_max": 250 * MIB,
            "rss_final": 240 * MIB,
            "rss_limit": 320 * MIB,
            "wasm_max": 30 * MIB,
            "cache": [{"bytes": 100, "budget": 1000, "entries": 2}],
        },
        "python": {"tracebacks": 0, "uncaught": 0, "warnings": 3},
        "faults": {"fetches": 100, "faulted": 10, "share": 0.1, "kinds": {"raise": 10}},
    }


def statuses_of(summary: dict[str, Any]) -> dict[str, str]:
    return {c["id"].removeprefix("load-"): c["status"] for c in evaluate_checks(summary, 0.1)}


def test_a_clean_run_passes_every_check() -> None:
    assert set(statuses_of(good_summary()).values()) == {"PASS"}


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        (lambda s: s["statuses"].update({"502": 1}), "no-5xx"),
        (lambda s: s.update(transport_errors=1), "no-5xx"),
        (lambda s: s.update(wrong=1), "bodies"),
        (lambda s: s.update(checked=99), "bodies"),
        (lambda s: s["memory"].update(rss_max=321 * MIB), "memory"),
        (lambda s: s["memory"].update(wasm_max=ISOLATE_BUDGET), "memory"),
        (lambda s: s["memory"]["cache"].append({"bytes": 1001, "budget": 1000}), "memory"),
        (lambda s: s["python"].update(tracebacks=1), "python"),
        (lambda s: s["python"].update(uncaught=1), "python"),
        (lambda s: s["faults"].update(share=0.02), "faults"),
        (lambda s: s["faults"].update(share=0.2), "faults"),
        (lambda s: s["faults"].update(fetches=0, share=0.0), "faults"),
        (lambda s: s.update(requests=90, checked=90), "complete"),
    ],
)
def test_each_failure_fails_its_check_only(change: Any, failing: str) -> None:
    summary = good_summary()
    change(summary)
    statuses = statuses_of(summary)
    assert statuses[failing] == "FAIL"
    assert {k for k, v in statuses.items() if v == "FAIL"} == {failing}


def test_the_gate_closes_at_each_boundary_until_reopened() -> None:
    gate = Gate(10, [4, 7], deadline=time.monotonic() + 30)
    taken: list[tuple[int, int]] = []
    lock = threading.Lock()

    def worker() -> None:
        while (ticket := gate.acquire()) is not None:
            with lock:
                taken.append(ticket)
            gate.release()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    states = []
    while True:
        state = gate.wait_quiet()
        states.append((state, gate.sent))
        if state == "end":
            break
        gate.reopen()
    for thread in threads:
        thread.join(5)
    assert states == [("boundary", 4), ("boundary", 7), ("end", 10)]
    assert sorted(n for n, _ in taken) == list(range(10))
    assert {n: g for n, g in taken} == {n: 0 if n < 4 else 1 if n < 7 else 2 for n in range(10)}


def test_the_gate_stops_at_its_deadline() -> None:
    gate = Gate(10, [], deadline=time.monotonic() - 1)
    assert gate.acquire() is None
    assert gate.wait_quiet() == "end" and gate.stopped


def test_the_oracle_renders_with_the_given_source_tree() -> None:
    out = render_with(ROOT / "src", [("/about", "data"), ("/no/such", "html")])
    assert out["modes"]["/now"] == "dynamic" and out["modes"]["/about"] == "prerender"
    (route, variant, (first, second)), (_, _, (missing, _)) = out["renders"]
    assert (route, variant, first["status"], missing["status"]) == ("/about", "data", 200, 404)
    assert json.loads(first["body"])["route"] == "/about"
    expected: ExpectedPage = expected_page("data", first, second, True)
    assert expected.digest is not None and expected.kind == "about"

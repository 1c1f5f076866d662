#!/usr/bin/env python3
"""Load with faults: many concurrent requests over a mix of routes against the local
runtime (Pyodide inside workerd), while about a tenth of the Worker's asset fetches fail
or are delayed, and isolates are restarted so cold seeding keeps happening under faults.

    python bench/load_faults.py                      # 20,000 requests, concurrency 64
    python bench/load_faults.py --quick              # 2,000 requests, results not written
    python bench/load_faults.py --requests 5000 --fault-rate 0.2 --out-dir /tmp/load

What runs. A temporary project holds a snapshot of src/, scripts/ and wrangler.toml as
of the commit (HEAD when the run starts; --worktree: the working tree), and the public
files; the snapshot's own prerender.py and copy_prerender.py build it, so the server,
the build and the oracle all run the same code whatever others edit meanwhile. The
local runtime serves it in test mode on loopback only.

The mix (a deterministic schedule from --seed): prerendered pages and their `.json` data
variants, on-demand pages (the post published after the build, the ISR demo), the dynamic
page, unknown paths (404), non-canonical spellings (trailing slash: 308), other spellings
of a page that serve it directly (percent-encoded letters, a query), spellings of the
private /__prerender/ prefix (404), and public files served by the asset layer.

Faults. The run is cut into epochs (--restarts + 1). Each epoch starts a fresh isolate
(restart: load paused, nothing in flight, as when an isolate is evicted between
requests), so its first requests seed cold at concurrency 64. Before it starts, a set of
faults is put on a deterministic sample of the prerender files (meta/build.json, index
shards, packs): each a `raise`, a `status` 500 or 503, or a `delay_ms` of 50-300 ms,
limited by `times` (1 or 2) so later retries succeed. How many files are faulted is
steered from the asset logs of the epochs before, towards --fault-rate of all fetches;
the share actually faulted is measured from the asset logs and reported.

The oracle. Every response is checked against what its URL must give. Pages: the status,
content type and body the site's renderer gives for the URL's route and variant
(rendered under CPython from the snapshot, compared with the generation stamp removed:
the only part in which a seeded page and a render may differ; pages that show the time
are checked by route, title and data link instead), and a build-time page is only
accepted for a route the build prerendered. Redirects: 308 and the exact Location.
Private spellings: 404 without a byte of a private file, or a redirect to a private
path. Public files: their bytes.

Memory. workerd's RSS is sampled from /proc every --rss-interval seconds; Pyodide's WASM
heap and the memory cache's statistics are read inside the isolate (test mode's eval) at
the end of each epoch. The RSS bound is the process's fixed part (RSS minus WASM heap
right after the isolate loaded Python, before any request) plus a whole 128 MB isolate
budget: everything the Worker allocates lives in its isolate, so a process above that
holds more than an isolate may. The bound holds per process, and the local runtime's
workerd keeps RSS per request on its own (measured here first: 1,000 requests for the
public files, which the asset layer serves without the Worker, at the load's concurrency;
20-45 KiB a request on the development machine, for public files and pages alike: a process
serving tens of thousands of requests outgrows any fixed bound whatever the Worker
does). With the default of a restart every 1,000 requests that growth stays well below
the isolate's share; "RSS kept per request" reports both rates.

Checks (PASS/FAIL): no 5xx and no failed connection; every body correct for its URL;
memory bounded; no Python traceback or uncaught error; the faulted share near
--fault-rate; every request sent within --max-seconds. Results: stdout, and with --out-dir
(default bench/results, not with --quick) <name>.json and <name>.md.

Exit codes: 0 every check passed; 1 a check failed or the runtime failed; 2 usage.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import mimetypes
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
for _entry in (str(ROOT), str(ROOT / "src")):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from bench.harness import (  # noqa: E402
    RESULTS_DIR,
    BenchRuntime,
    git_info,
    log,
    machine_info,
    make_project,
    percentile,
    public_files,
    rss_bytes,
    run_load,
    snapshot_sources,
    wait_idle,
)

MIB = 1024 * 1024
ISOLATE_BUDGET = 128 * MIB  # a Workers isolate's memory limit
DEFAULT_REQUESTS = 20_000
QUICK_REQUESTS = 2_000
NOT_FOUND_ROUTE = "/_not-found"  # what the Worker renders for a path that cannot be a route
PRIVATE_PREFIX = "/__prerender/"
_URL_SAFE = "/-._~!$&'()*+,;=:@"

# Share of the schedule per group of URLs (relative weights).
WEIGHTS: dict[str, float] = {
    "prerendered": 30,  # HTML of routes the build rendered
    "data": 20,  # their .json data variants
    "on-demand": 10,  # routes rendered on first request (then cached)
    "dynamic": 5,  # rendered for every request
    "unknown": 12,  # 404
    "redirect": 10,  # non-canonical spellings: 308
    "alias": 3,  # other spellings served directly (percent-encoded letter, query)
    "private": 5,  # /__prerender/ in many spellings: 404
    "static": 5,  # public files served by the asset layer
}

# Groups whose URLs name routes the build prerendered.
PRERENDERED_GROUPS = ("prerendered", "data", "alias")

FAULT_KINDS = ("raise", "status 500", "status 503", "delay")
DELAY_MS = (50, 300)
FAULT_TIMES = (1, 2)
# A faulted file adds about this many faulted fetches (times is 1 or 2) and, for the
# three failing kinds out of four, as many extra fetches (the retries that succeed).
FAULTED_PER_FILE = 1.5
EXTRA_PER_FILE = 1.5 * 3 / 4
# The measured share must land within this factor of --fault-rate.
SHARE_TOLERANCE = 0.5


# --- the oracle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One URL of the mix and what it must give.

    kind "page": the site's page for (route, variant); "redirect": 308 to `location`;
    "private": 404 without private bytes (or a redirect to a private path); "static":
    the public file `asset` byte for byte."""

    url: str
    group: str
    kind: str
    route: str = ""
    variant: str = ""
    location: str = ""
    asset: str = ""


@dataclass(frozen=True)
class ExpectedPage:
    status: int
    content_type: str
    digest: str | None  # of the normalized body; None when the page shows the time
    title: str  # HTML
    alternate: str  # HTML: the href of <link rel="alternate" type="application/json">
    route: str  # JSON "route"
    kind: str  # JSON "kind"
    prerendered: bool  # the build rendered it: a build-time copy is acceptable
    dynamic: bool = False  # rendered for every request: never cached, anywhere


@dataclass
class Oracle:
    pages: dict[tuple[str, str], ExpectedPage]
    statics: dict[str, tuple[str, str]]  # asset name -> (sha256, content type)
    private_digests: frozenset[str]


@dataclass(frozen=True)
class Normalized:
    """A page body with its generation stamp taken out, and what identifies it."""

    digest: str
    phase: str | None
    title: str = ""
    alternate: str = ""
    route: str = ""
    kind: str = ""
    status: int | None = None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problem: str = ""
    phase: str | None = None  # "build" (seeded), "request" (rendered), None (not a page)


@dataclass
class Record:
    group: str
    status: int  # 0: the request failed
    ms: float
    phase: str | None
    cache_status: str
    ok: bool


@dataclass
class Epoch:
    number: int
    faults: list[dict[str, Any]] = field(default_factory=list)
    restart_ms: float | None = None
    warmup_ms: float | None = None
    rss_warm: int | None = None
    wasm_warm: int | None = None
    rss_max: int = 0
    rss_end: int | None = None  # idle, after the epoch's last request
    requests: int = 0
    wasm_end: int | None = None
    cache: dict[str, Any] | None = None
    fetches: int = 0
    faulted: int = 0
    fault_kinds: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    tracebacks: int = 0
    uncaught: int = 0


_PHASE_P = re.compile(r'<p class="generated" data-phase="([^"]*)">.*?</p>', re.S)
_PHASE_META = re.compile(r'<meta name="generated-phase" content="([^"]*)">')
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_ALTERNATE = re.compile(r'<link rel="alternate" type="application/json" href="([^"]*)">')


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize_html(body: bytes) -> Normalized:
    """The page without its stamp (footer line and generated-phase meta), its phase
    (None if the two disagree or are missing), title and data link. Raises
    UnicodeDecodeError for a body that is not UTF-8."""
    text = body.decode("utf-8")
    footer = _PHASE_P.search(text)
    meta = _PHASE_META.search(text)
    phase = footer.group(1) if footer else None
    if meta is None or (phase is not None and meta.group(1) != phase):
        phase = None
    stripped = _PHASE_META.sub("", _PHASE_P.sub('<p class="generated">', text))
    title = _TITLE.search(text)
    alternate = _ALTERNATE.search(text)
    return Normalized(
        digest=sha256(stripped.encode("utf-8")),
        phase=phase,
        title=title.group(1) if title else "",
        alternate=alternate.group(1) if alternate else "",
    )


def normalize_json(body: bytes) -> Normalized:
    """The document without its "generated" stamp, canonically dumped, and its phase,
    route, kind and status fields. Raises ValueError for a body that is not a JSON object."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    generated = document.pop("generated", None)
    phase = generated.get("phase") if isinstance(generated, dict) else None
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    status = document.get("status")
    return Normalized(
        digest=sha256(canonical.encode("utf-8")),
        phase=phase if isinstance(phase, str) else None,
        route=str(document.get("route", "")),
        kind=str(document.get("kind", "")),
        status=status if isinstance(status, int) else None,
    )


def normalize(variant: str, body: bytes) -> Normalized:
    return normalize_html(body) if variant == "html" else normalize_json(body)


def expected_page(
    variant: str,
    first: Mapping[str, Any],
    second: Mapping[str, Any],
    prerendered: bool,
    dynamic: bool = False,
) -> ExpectedPage:
    """What a page must look like, from two renders of it at different times: when
    they differ once stamped out, the page shows the time and only its identity
    (title and data link, or route and kind) is compared."""
    a = normalize(variant, first["body"])
    b = normalize(variant, second["body"])
    return ExpectedPage(
        status=int(first["status"]),
        content_type=str(first["headers"].get("content-type", "")),
        digest=a.digest if a.digest == b.digest else None,
        title=a.title,
        alternate=a.alternate,
        route=a.route,
        kind=a.kind,
        prerendered=prerendered,
        dynamic=dynamic,
    )


def private_ok(status: int, headers: Mapping[str, str], body: bytes, oracle: Oracle) -> str:
    """'' when a private spelling answered as it must, else the problem."""
    if status == 404:
        if sha256(body) in oracle.private_digests or b'"buildId"' in body:
            return "a private file's bytes in a 404"
        if b"lazy-seed.prerender" in body:
            return "a private schema name in a 404"
        return ""
    if status in (301, 302, 307, 308):
        location = headers.get("location", "")
        decoded = location
        for _ in range(3):
            decoded = unquote(decoded)
        decoded = re.sub("/+", "/", decoded.replace("\\", "/")).lower()
        if decoded.startswith(PRIVATE_PREFIX) or decoded == PRIVATE_PREFIX.rstrip("/"):
            return ""
        return f"redirected to {location!r}, not a private path"
    return f"status {status}, expected 404"


def check_response(
    probe: Probe, status: int, headers: Mapping[str, str], body: bytes, oracle: Oracle
) -> Verdict:
    """Does this response (headers with lower-case names) give what `probe.url` must?"""
    if probe.kind == "redirect":
        location = headers.get("location")
        if status != 308 or location != probe.location:
            return Verdict(False, f"{status} to {location!r}, expected 308 to {probe.location!r}")
        return Verdict(True)
    if probe.kind == "private":
        problem = private_ok(status, headers, body, oracle)
        return Verdict(not problem, problem)
    if probe.kind == "static":
        digest, content_type = oracle.statics[probe.asset]
        if status != 200:
            return Verdict(False, f"status {status}, expected 200")
        if sha256(body) != digest:
            return Verdict(False, f"not the bytes of {probe.asset}")
        if headers.get("content-type", "").split(";")[0] != content_type.split(";")[0]:
            return Verdict(False, f"content-type {headers.get('content-type')!r}")
        return Verdict(True)
    if probe.kind != "page":
        raise ValueError(f"unknown probe kind {probe.kind!r}")

    expected = oracle.pages[(probe.route, probe.variant)]
    if status != expected.status:
        return Verdict(False, f"status {status}, expected {expected.status}")
    content_type = headers.get("content-type", "")
    if content_type.split(";")[0] != expected.content_type.split(";")[0]:
        return Verdict(False, f"content-type {content_type!r}, expected {expected.content_type!r}")
    cache_status = headers.get("x-cache-status")
    if cache_status not in ("HIT", "STALE", "MISS"):
        return Verdict(False, f"x-cache-status {cache_status!r}")
    if expected.dynamic:
        cache_control = headers.get("cache-control", "")
        if cache_status != "MISS" or "no-store" not in cache_control:
            return Verdict(False, f"a dynamic page sent {cache_status}, {cache_control!r}")
    try:
        got = normalize(probe.variant, body)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return Verdict(False, f"unreadable body: {exc}")
    if got.phase not in ("build", "request"):
        return Verdict(False, f"no generation stamp (phase {got.phase!r})")
    if got.phase == "build" and not expected.prerendered:
        return Verdict(False, "a build-time page for a route the build did not prerender", "build")
    if probe.variant == "html":
        if got.title != expected.title or got.alternate != expected.alternate:
            return Verdict(
                False,
                f"title {got.title!r} / data link {got.alternate!r}, expected "
                f"{expected.title!r} / {expected.alternate!r}",
                got.phase,
            )
    elif got.route != expected.route or got.kind != expected.kind or got.status != status:
        return Verdict(
            False,
            f"route {got.route!r} kind {got.kind!r} status {got.status!r}, expected "
            f"{expected.route!r} {expected.kind!r} {status}",
            got.phase,
        )
    if expected.digest is not None and got.digest != expected.digest:
        return Verdict(False, "body differs from the page's render (stamp aside)", got.phase)
    return Verdict(True, "", got.phase)


# --- the mix ---------------------------------------------------------------------------------


def url_of(route: str, variant: str = "html") -> str:
    """The canonical URL path of a route's variant (no basePath, no trailing slash)."""
    if variant != "data":
        return quote(route, safe=_URL_SAFE)
    return quote("/index.json" if route == "/" else route + ".json", safe=_URL_SAFE)


def build_probes(
    manifest: Mapping[str, Any],
    modes: Mapping[str, str],
    statics: Sequence[str],
    private_files: Sequence[str],
    *,
    unknown_count: int = 40,
    seed: int = 1,
) -> list[Probe]:
    """Every URL of the mix, from the build's manifest (which routes exist and which
    the build rendered) and the site's render modes (route -> "prerender",
    "on-demand" or "dynamic"). Needs a site without basePath or trailing slashes."""
    if manifest.get("basePath") or manifest.get("trailingSlash"):
        raise ValueError("the mix assumes basePath '' and trailingSlash false")
    routes: Mapping[str, Any] = manifest["routes"]
    probes: list[Probe] = []

    def page(url: str, group: str, route: str, variant: str) -> None:
        probes.append(Probe(url, group, "page", route=route, variant=variant))

    for route, record in sorted(routes.items()):
        if record.get("status") == "rendered":
            page(url_of(route), "prerendered", route, "html")
            page(url_of(route, "data"), "data", route, "data")
        else:
            group = "dynamic" if modes.get(route) == "dynamic" else "on-demand"
            page(url_of(route), group, route, "html")
            page(url_of(route, "data"), group, route, "data")
        if route != "/":
            canonical = url_of(route)
            probes.append(Probe(canonical + "/", "redirect", "redirect", location=canonical))

    known = sorted(routes)
    rendered = [r for r in known if routes[r].get("status") == "rendered" and r != "/"]
    first = rendered[0] if rendered else known[0]
    probes.append(
        Probe(
            url_of(first) + "/?utm=load",
            "redirect",
            "redirect",
            location=url_of(first) + "?utm=load",
        )
    )
    for name in statics:
        probes.append(Probe(f"/{name}/", "redirect", "redirect", location=f"/{name}"))
        probes.append(Probe(f"/{name}", "static", "static", asset=name))

    # Other spellings of a page, served directly.
    for route in rendered[:4]:
        encoded = f"/%{ord(route[1]):02X}" + quote(route[2:], safe=_URL_SAFE)
        page(encoded, "alias", route, "html")
        page(url_of(route) + "?q=load", "alias", route, "html")
        page(url_of(route, "data") + "?q=load", "alias", route, "data")

    # Unknown paths: the 404 page, for the route the path names, or for no route at all.
    unknown: list[tuple[str, str, str]] = [
        ("/no/such/page", "/no/such/page", "html"),
        ("/no/such/page.json", "/no/such/page", "data"),
        ("/%zz", NOT_FOUND_ROUTE, "html"),
        ("//" + first.lstrip("/"), NOT_FOUND_ROUTE, "html"),
        ("/index", NOT_FOUND_ROUTE, "html"),
        ("/.json", NOT_FOUND_ROUTE, "html"),
        (url_of(first, "data") + "/", NOT_FOUND_ROUTE, "html"),
    ]
    upper = first.upper()
    if upper not in routes:
        unknown.append((url_of(upper), upper, "html"))
    near = [r for r in rendered if r.startswith("/blog/")]
    if near and near[0][:-1] not in routes:
        unknown.append((url_of(near[0][:-1]), near[0][:-1], "html"))
    rng = random.Random(seed)
    for _ in range(unknown_count):
        route = f"/missing/{rng.getrandbits(40):010x}"
        variant = rng.choice(("html", "data"))
        unknown.append((url_of(route, variant), route, variant))
    for url, route, variant in unknown:
        page(url, "unknown", route, variant)

    for spelling in private_spellings(private_files):
        probes.append(Probe(spelling, "private", "private"))
    return probes


def private_spellings(private_files: Sequence[str]) -> list[str]:
    """URL paths naming the private prefix: its files, and spellings of one of them
    (encoded, other case, doubled slash, dot segments)."""
    files = sorted(private_files)
    if not files:
        return ["/__prerender/", "/__prerender"]
    rest = files[0]  # e.g. "meta/build.json"
    spellings = [f"/__prerender/{name}" for name in files[:4]]
    spellings += [
        f"/%5F%5Fprerender/{rest}",
        f"/%5f_prerender/{rest}",
        f"//__prerender/{rest}",
        f"/__PRERENDER/{rest}",
        f"/x/../__prerender/{rest}",
        f"/__prerender/{rest}.json",
        "/__prerender/",
        "/__prerender",
    ]
    return spellings


def make_schedule(
    probes: Sequence[Probe], total: int, seed: int, weights: Mapping[str, float] = WEIGHTS
) -> list[Probe]:
    """`total` probes drawn deterministically: a group by its weight, then a URL of it."""
    by_group: dict[str, list[Probe]] = {}
    for probe in probes:
        by_group.setdefault(probe.group, []).append(probe)
    groups = [g for g in weights if g in by_group and weights[g] > 0]
    if not groups:
        raise ValueError("no probe belongs to a weighted group")
    rng = random.Random(seed)
    picked = rng.choices(groups, [weights[g] for g in groups], k=total)
    return [rng.choice(by_group[group]) for group in picked]


# --- faults ----------------------------------------------------------------------------------


def plan_faults(files: Sequence[str], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Faults on `count` of the prerender files (asset paths), drawn from `rng`: each a
    raise, a status 500 or 503, or a delay, for its first 1 or 2 fetches only."""
    chosen = rng.sample(sorted(files), min(max(count, 0), len(files)))
    faults: list[dict[str, Any]] = []
    for path in chosen:
        kind = rng.choice(FAULT_KINDS)
        fault: dict[str, Any] = {"path": path, "times": rng.choice(FAULT_TIMES)}
        if kind == "raise":
            fault["raise"] = f"injected by bench/load_faults.py: {path}"
        elif kind == "delay":
            fault["delay_ms"] = rng.randint(*DELAY_MS)
        else:
            fault["status"] = int(kind.split()[1])
        faults.append(fault)
    return faults


def next_fault_count(
    target: float, faulted: int, fetched: int, expected_fetches: float, n_files: int
) -> int:
    """How many files to fault in the next epoch so that the faulted share of all
    fetches so far and those expected next comes closest to `target`."""
    if target <= 0 or n_files <= 0:
        return 0
    need = target * (fetched + expected_fetches) - faulted
    per_file = FAULTED_PER_FILE - target * EXTRA_PER_FILE
    if need <= 0 or per_file <= 0:
        return 0 if need <= 0 else n_files
    return max(0, min(n_files, round(need / per_file)))


def fault_label(fault: str | None) -> str | None:
    """The asset log's fault label without the delay's amount ("delay 120ms" -> "delay")."""
    if not fault:
        return None
    return "delay" if fault.startswith("delay") else fault


def fault_share(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Fetches, faulted fetches, their share and their kinds, from asset log entries."""
    total = 0
    kinds: Counter[str] = Counter()
    for entry in entries:
        total += 1
        label = fault_label(entry.get("fault"))
        if label:
            kinds[label] += 1
    faulted = sum(kinds.values())
    return {
        "fetches": total,
        "faulted": faulted,
        "share": faulted / total if total else 0.0,
        "kinds": dict(sorted(kinds.items())),
    }


# --- summaries, checks, report ---------------------------------------------------------------


def fallback_renders(records: Iterable[Record]) -> int:
    """Responses for prerendered routes rendered for the request itself (phase
    "request", cache MISS): what seeding failures cost. (A page regenerated after its
    revalidate period is rendered too, but answers HIT or STALE.)"""
    return sum(
        1
        for r in records
        if r.group in PRERENDERED_GROUPS and r.phase == "request" and r.cache_status == "MISS"
    )


def growth_per_request(epochs: Iterable[Epoch]) -> float | None:
    """The median over isolates of (idle RSS after the isolate's last request - RSS
    after its warm-up) / its requests: bytes the process kept per request."""
    rates = sorted(
        (e.rss_end - e.rss_warm) / e.requests
        for e in epochs
        if e.requests and e.rss_end is not None and e.rss_warm is not None
    )
    return percentile(rates, 50) if rates else None


def latency_summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "p99": None, "mean": None, "max": None}
    return {
        "median": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": sum(values) / len(values),
        "max": max(values),
    }


def rss_limit(warm_samples: Iterable[tuple[int, int]], budget: int = ISOLATE_BUDGET) -> int:
    """The RSS bound: the largest fixed part of the process (RSS minus the WASM heap,
    right after an isolate loaded Python) plus one isolate's whole budget."""
    fixed = [rss - wasm for rss, wasm in warm_samples]
    if not fixed:
        raise ValueError("no warm-up sample")
    return max(fixed) + budget


def check(check_id: str, label: str, ok: bool, detail: str) -> dict[str, str]:
    return {"id": check_id, "label": label, "status": "PASS" if ok else "FAIL", "detail": detail}


def evaluate_checks(summary: Mapping[str, Any], target_share: float) -> list[dict[str, str]]:
    statuses = {int(k): v for k, v in summary["statuses"].items()}
    server_errors = sum(v for k, v in statuses.items() if k >= 500)
    failed = summary["transport_errors"]
    wrong = summary["wrong"]
    memory = summary["memory"]
    faults = summary["faults"]
    python = summary["python"]
    sent, requested = summary["requests"], summary["requested"]
    low, high = target_share * (1 - SHARE_TOLERANCE), target_share * (1 + SHARE_TOLERANCE)
    rss_ok = memory["rss_max"] is not None and memory["rss_max"] < memory["rss_limit"]
    wasm_ok = memory["wasm_max"] is not None and memory["wasm_max"] < ISOLATE_BUDGET
    within = sum(1 for c in memory["cache"] if c["bytes"] <= c["budget"])
    cache_ok = within == len(memory["cache"])
    return [
        check(
            "no-5xx",
            "zero 5xx, zero failed requests",
            server_errors == 0 and failed == 0,
            f"{server_errors} responses >= 500, {failed} failed connections",
        ),
        check(
            "bodies",
            "every response correct for its URL",
            wrong == 0 and summary["checked"] == sent,
            f"{wrong} wrong of {summary['checked']} checked",
        ),
        check(
            "memory",
            "memory bounded",
            rss_ok and wasm_ok and cache_ok,
            f"workerd RSS max {_mib(memory['rss_max'])} < {_mib(memory['rss_limit'])}; "
            f"WASM heap max {_mib(memory['wasm_max'])} < {_mib(ISOLATE_BUDGET)}; "
            f"cache within its budget in {within}/{len(memory['cache'])} isolates",
        ),
        check(
            "python",
            "no Python traceback or uncaught error",
            python["tracebacks"] == 0 and python["uncaught"] == 0,
            f"{python['tracebacks']} tracebacks, {python['uncaught']} uncaught errors "
            f"({python['warnings']} warnings logged)",
        ),
        check(
            "faults",
            f"faulted share of asset fetches near {target_share:.0%}",
            faults["fetches"] > 0 and low <= faults["share"] <= high,
            f"{faults['faulted']} of {faults['fetches']} fetches = {faults['share']:.1%} "
            f"(accepted {low:.0%}-{high:.0%})",
        ),
        check(
            "complete",
            "every request sent in time",
            sent == requested,
            f"{sent} of {requested} within {summary['max_seconds']:.0f} s",
        ),
    ]


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f} MiB"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def table_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    lat = summary["latency_ms"]
    memory = summary["memory"]
    faults = summary["faults"]
    phases = summary["phases"]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(summary["statuses"].items()))
    cache = ", ".join(f"{k}: {v}" for k, v in sorted(summary["cache_statuses"].items()))
    kinds = ", ".join(f"{k} {v}" for k, v in faults["kinds"].items()) or "none"
    return [
        ("requests", f"{summary['requests']:,} of {summary['requested']:,}"),
        ("concurrency", str(summary["concurrency"])),
        ("isolates (restarts + 1)", str(summary["epochs"])),
        (
            "latency median / p95 / p99",
            f"{_ms(lat['median'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])} ms",
        ),
        (
            "throughput",
            f"{summary['throughput_rps']:.1f} req/s under load "
            f"({summary['load_seconds']:.1f} s; {summary['wall_seconds']:.1f} s with restarts)",
        ),
        ("status counts", statuses),
        ("x-cache-status", cache),
        (
            "pages seeded / rendered",
            f"{phases.get('build', 0):,} / {phases.get('request', 0):,} (of the rendered, "
            f"{summary['fallback_renders']:,} prerendered routes answered by a render "
            "because seeding had failed)",
        ),
        ("wrong bodies", f"{summary['wrong']:,} of {summary['checked']:,} checked"),
        (
            "asset fetches faulted",
            f"{faults['faulted']} of {faults['fetches']} = {faults['share']:.1%} ({kinds})",
        ),
        (
            "workerd RSS max / final",
            f"{_mib(memory['rss_max'])} / {_mib(memory['rss_final'])} "
            f"(bound {_mib(memory['rss_limit'])})",
        ),
        ("RSS kept per request", growth_row(memory)),
        ("WASM heap max", _mib(memory["wasm_max"])),
        (
            "memory cache max",
            f"{_mib(max((c['bytes'] for c in memory['cache']), default=None))} "
            f"(budget {_mib(memory['cache'][0]['budget'] if memory['cache'] else None)})",
        ),
    ]


def _kib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1024:.1f} KiB"


def growth_row(memory: Mapping[str, Any]) -> str:
    calibration = memory.get("calibration") or {}
    text = (
        f"{_kib(memory.get('growth_per_request'))} (median over isolates, each one's "
        "growth after warm-up: first renders, JIT, caches)"
    )
    if calibration.get("growth_per_request") is not None:
        text += (
            f"; {_kib(calibration['growth_per_request'])} for public-file requests that "
            "never reach the Worker"
        )
    return text


def group_rows(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for group, data in summary["groups"].items():
        lat = data["latency_ms"]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(data["statuses"].items()))
        rows.append(
            (
                group,
                f"{data['requests']:,}",
                statuses,
                f"{data['phases'].get('build', 0):,} / {data['phases'].get('request', 0):,}",
                f"{data['wrong']}",
                f"{_ms(lat['median'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])}",
            )
        )
    return rows


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(payload: Mapping[str, Any]) -> str:
    summary = payload["summary"]
    machine = payload["machine"]
    git = payload["git"]
    memory = machine.get("memory_bytes")
    machine_line = (
        f"{machine.get('cpu')}, {machine.get('cores')} cores, "
        f"{f'{memory / 1024**3:.1f} GiB' if memory else 'memory unknown'}, {machine.get('os')}; "
        f"Node {machine.get('node')}, workerd {machine.get('workerd')}, "
        f"Pyodide {machine.get('pyodide')} (Python {machine.get('python_in_worker')})"
    )
    checks = payload["checks"]
    verdict = "PASS" if all(c["status"] == "PASS" for c in checks) else "FAIL"
    parts = [
        "## Load with faults",
        "",
        f"`{payload['command']}`",
        "",
        f"- machine: {machine_line}",
        f"- commit: `{git.get('commit', 'unknown')[:12]}` {git.get('subject', '')}"
        + (f" (src/ from the {git['source']})" if git.get("source") else "")
        + (" (the files the run uses differ from the commit)" if git.get("dirty") else ""),
        f"- date: {payload['date']}",
        f"- result: **{verdict}**",
        "",
        markdown_table(("figure", "value"), table_rows(summary)),
        "",
        markdown_table(
            (
                "group",
                "requests",
                "statuses",
                "seeded / rendered",
                "wrong",
                "median / p95 / p99 ms",
            ),
            group_rows(summary),
        ),
        "",
        markdown_table(
            ("check", "result", "detail"),
            ((c["label"], c["status"], c["detail"]) for c in checks),
        ),
        "",
        payload["method"],
        "",
    ]
    problems = summary.get("problems") or []
    if problems:
        parts += ["First wrong responses:", ""]
        parts += [f"- `{p['url']}`: {p['problem']}" for p in problems[:10]]
        parts.append("")
    return "\n".join(parts)


METHOD = (
    "Method: {requested:,} GETs from {concurrency} threads (keep-alive, loopback) over "
    "{urls} URLs in {groups} groups, {epochs} isolates in turn (each a restart with the "
    "load paused, then cold seeding under faults); per isolate, faults on a sample of the "
    "{files} prerender files (raise, status 500/503, delay 50-300 ms; 1-2 times each), "
    "their number steered towards {rate:.0%} of fetches. Latency: request sent to body "
    "read, restarts excluded. Bodies compared with the site's render of the URL's route "
    "(stamp removed; pages that show the time by route, title and data link). RSS bound: "
    "the process's RSS minus WASM heap after loading Python, plus a 128 MB isolate."
)


# --- the run ---------------------------------------------------------------------------------


class Gate:
    """Hands request numbers to the load threads. It closes itself at each epoch
    boundary so the coordinator can restart the isolate with nothing in flight, and
    stops at `total` or at the deadline."""

    def __init__(self, total: int, boundaries: Sequence[int], deadline: float) -> None:
        self._cond = threading.Condition()
        self._next = 0
        self._total = total
        self._boundaries = sorted(b for b in boundaries if 0 < b < total)
        self._deadline = deadline
        self._inflight = 0
        self._closed = False
        self.generation = 0
        self.stopped = False

    def acquire(self) -> tuple[int, int] | None:
        """(request number, generation), or None when the run is over."""
        with self._cond:
            while True:
                if self.stopped or self._next >= self._total:
                    return None
                if time.monotonic() > self._deadline:
                    self.stopped = True
                    self._cond.notify_all()
                    return None
                if not self._closed:
                    if self._boundaries and self._next >= self._boundaries[0]:
                        self._closed = True
                        self._cond.notify_all()
                        continue
                    number = self._next
                    self._next += 1
                    self._inflight += 1
                    return number, self.generation
                self._cond.wait(0.25)

    def release(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def wait_quiet(self) -> str:
        """Block until nothing is in flight and either a boundary closed the gate
        ("boundary") or no request is left to send ("end")."""
        with self._cond:
            while True:
                over = self.stopped or self._next >= self._total
                if self._inflight == 0 and over:
                    return "end"
                if self._inflight == 0 and self._closed:
                    return "boundary"
                if time.monotonic() > self._deadline and not self.stopped:
                    self.stopped = True
                    self._cond.notify_all()
                self._cond.wait(0.25)

    def reopen(self) -> None:
        with self._cond:
            self._boundaries.pop(0)
            self.generation += 1
            self._closed = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()

    @property
    def sent(self) -> int:
        return self._next


MEMORY_PROBE = """
import entry
import pyodide_js
handler = entry._handler
cache = None if handler is None else {
    "bytes": handler.cache.bytes_used,
    "budget": handler.cache.max_bytes,
    "entries": len(handler.cache),
}
{"wasm_heap": pyodide_js._module.HEAP8.length, "cache": cache}
"""

RENDER_SNIPPET = r"""
import base64, json, sys
sys.path.insert(0, sys.argv[1])
from app import SITE
from seeding.rendering import RenderRequest
from seeding.routes import Variant
request = json.load(sys.stdin)
out = {"modes": {r.path: r.mode.value for r in SITE.site_routes()}, "renders": []}
for route, variant in request["targets"]:
    pair = []
    for now in request["times"]:
        result = SITE.render_sync(
            RenderRequest(route=route, variant=Variant(variant), now=now, phase="request")
        )
        pair.append({
            "status": result.status,
            "headers": dict(result.headers),
            "body": base64.b64encode(result.body).decode(),
        })
    out["renders"].append([route, variant, pair])
json.dump(out, sys.stdout)
"""


def render_with(src: Path, targets: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Render (route, variant) pairs twice (now and 3 days and 1 h earlier) with the site
    in `src`, in a child CPython (so the snapshot's modules, not this process's); the site's
    render modes too. Bodies decoded."""
    now = time.time()
    payload = json.dumps({"targets": list(targets), "times": [now, now - 3 * 86400 - 3600]})
    result = subprocess.run(
        [sys.executable, "-c", RENDER_SNIPPET, str(src)],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rendering the oracle's pages failed:\n{result.stderr[-3000:]}")
    out = json.loads(result.stdout)
    for item in out["renders"]:
        for render in item[2]:
            render["body"] = base64.b64decode(render["body"])
    return out


def asset_files(assets: Path) -> list[str]:
    """The prerender files as asset paths (/__prerender/...)."""
    base = assets / PRIVATE_PREFIX.strip("/")
    return sorted(
        PRIVATE_PREFIX + p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()
    )


def build_oracle(
    project: Path, build: Path, probes: Sequence[Probe], statics: Sequence[str]
) -> Oracle:
    manifest = json.loads((build / "meta" / "manifest.json").read_text())
    rendered_routes = {
        r for r, rec in manifest["routes"].items() if rec.get("status") == "rendered"
    }
    targets = sorted({(p.route, p.variant) for p in probes if p.kind == "page"})
    out = render_with(project / "src", targets)
    pages = {}
    modes = out["modes"]
    for route, variant, (first, second) in out["renders"]:
        pages[(route, variant)] = expected_page(
            variant, first, second, route in rendered_routes, modes.get(route) == "dynamic"
        )
    # The oracle's own check: the build's files are these renders, stamp aside.
    for route in sorted(rendered_routes):
        for variant, info in manifest["routes"][route]["variants"].items():
            expected = pages.get((route, variant))
            if expected is None or expected.digest is None:
                continue
            built = normalize(variant, (build / info["file"]).read_bytes())
            if built.digest != expected.digest:
                raise RuntimeError(f"the oracle disagrees with the build for {route} ({variant})")
    public = project / "public"
    statics_map = {}
    for name in statics:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        statics_map[name] = (sha256((public / name).read_bytes()), content_type)
    private = frozenset(
        sha256(p.read_bytes())
        for p in (public / PRIVATE_PREFIX.strip("/")).rglob("*")
        if p.is_file()
    )
    return Oracle(pages, statics_map, private)


def send(conn: http.client.HTTPConnection, url: str) -> tuple[int, dict[str, str], bytes]:
    conn.request("GET", url)
    response = conn.getresponse()
    body = response.read()
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return response.status, headers, body


class LoadRun:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.records: list[Record] = []
        self.problems: list[dict[str, str]] = []
        self.epochs: list[Epoch] = []
        self.rss_samples: list[tuple[float, int]] = []
        self.rss_final: int | None = None
        self.transport_errors = 0
        self.reconnects = 0
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._sampling = threading.Event()
        self.run_started = time.monotonic()
        self.load_seconds = 0.0
        self.wall_seconds = 0.0
        self.requests_sent = 0
        self.warmup_info: dict[str, Any] = {}
        self.calibration: dict[str, Any] = {}
        self.git: dict[str, Any] = {}

    # -- setup --

    def prepare(self) -> None:
        started = time.monotonic()
        worktree = self.args.worktree
        self.git = git_info(include_sources=worktree)
        self.git["source"] = "working tree" if worktree else "commit"
        sources = snapshot_sources(
            self.workdir / "source", None if worktree else self.git["commit"]
        )
        project = self.workdir / "project"
        make_project(project, src=sources / "src")
        shutil.copytree(
            sources / "scripts", project / "scripts", ignore=shutil.ignore_patterns("*.sh")
        )
        public_files(project / "public")
        build = self.workdir / "build"
        for script, args in (
            ("prerender.py", ["--out", str(build)]),
            ("copy_prerender.py", [str(build), str(project / "public")]),
        ):
            result = subprocess.run(
                [sys.executable, str(project / "scripts" / script), *args],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"{script} failed:\n{result.stdout}\n{result.stderr}")
        self.project, self.build = project, build
        config = tomllib.loads((project / "wrangler.toml").read_text())
        self.cache_budget = int(config.get("vars", {}).get("SEED_CACHE_MAX_BYTES", 0)) or None
        self.files = asset_files(project / "public")
        statics = sorted(p.name for p in (project / "public").iterdir() if p.is_file())
        manifest = json.loads((build / "meta" / "manifest.json").read_text())
        modes = render_with(project / "src", [])["modes"]
        private = [f.removeprefix(PRIVATE_PREFIX) for f in self.files]
        self.probes = build_probes(manifest, modes, statics, private, seed=self.args.seed)
        self.schedule = make_schedule(self.probes, self.args.requests, self.args.seed)
        self.oracle = build_oracle(project, build, self.probes, statics)
        log(
            f"project, build and oracle ready in {time.monotonic() - started:.1f} s: "
            f"{len(manifest['routes'])} routes, {len(self.files)} prerender files, "
            f"{len(self.probes)} URLs"
        )

    # -- the load threads --

    def _worker(self, gate: Gate, base: tuple[str, int]) -> None:
        conn: http.client.HTTPConnection | None = None
        generation = -1
        records: list[Record] = []
        problems: list[dict[str, str]] = []
        failed = reconnects = 0
        try:
            while (ticket := gate.acquire()) is not None:
                number, gen = ticket
                try:
                    probe = self.schedule[number]
                    if conn is None or gen != generation:
                        if conn is not None:
                            conn.close()
                        conn = http.client.HTTPConnection(*base, timeout=self.args.timeout)
                        generation, fresh = gen, True
                    else:
                        fresh = False
                    started = time.perf_counter()
                    try:
                        status, headers, body = send(conn, probe.url)
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection(*base, timeout=self.args.timeout)
                        if fresh:
                            raise
                        # A kept-alive connection the server had closed: once more, anew.
                        reconnects += 1
                        started = time.perf_counter()
                        status, headers, body = send(conn, probe.url)
                    ms = (time.perf_counter() - started) * 1000
                    verdict = check_response(probe, status, headers, body, self.oracle)
                    records.append(
                        Record(
                            probe.group,
                            status,
                            ms,
                            verdict.phase,
                            headers.get("x-cache-status", "-"),
                            verdict.ok,
                        )
                    )
                    if not verdict.ok and len(problems) < 50:
                        problems.append(
                            {"url": probe.url, "status": str(status), "problem": verdict.problem}
                        )
                except (OSError, http.client.HTTPException) as exc:
                    failed += 1
                    records.append(Record(self.schedule[number].group, 0, 0.0, None, "-", False))
                    if len(problems) < 50:
                        problems.append(
                            {"url": self.schedule[number].url, "status": "0", "problem": repr(exc)}
                        )
                    conn = None
                finally:
                    gate.release()
        finally:
            if conn is not None:
                conn.close()
            with self._lock:
                self.records.extend(records)
                self.problems.extend(problems)
                self.transport_errors += failed
                self.reconnects += reconnects

    def _sampler(self) -> None:
        while not self._sampling.wait(self.args.rss_interval):
            pid = self._pid
            if pid is None:
                continue
            try:
                rss = rss_bytes(pid)
            except (OSError, ValueError, KeyError):
                continue  # a restart replaced the process
            self.rss_samples.append((time.monotonic(), rss))
            if self.epochs:
                epoch = self.epochs[-1]
                epoch.rss_max = max(epoch.rss_max, rss)

    # -- epochs --

    def _memory(self, runtime: BenchRuntime) -> dict[str, Any]:
        return runtime.evaluate(MEMORY_PROBE)

    def _begin_epoch(self, runtime: BenchRuntime, rng: random.Random, restart: bool) -> None:
        epoch = Epoch(len(self.epochs))
        fetched = sum(e.fetches for e in self.epochs)
        faulted = sum(e.faulted for e in self.epochs)
        done = [e for e in self.epochs if e.fetches]
        expected = (
            sum(e.fetches - e.faulted for e in done) / len(done) if done else 2.0 * len(self.files)
        )
        count = next_fault_count(self.args.fault_rate, faulted, fetched, expected, len(self.files))
        epoch.faults = plan_faults(self.files, count, rng)
        runtime.control("PUT", "/faults", epoch.faults)
        self._pid = None
        if restart:
            info = runtime.restart()
            epoch.restart_ms = info.get("restartMs")
            epoch.warmup_ms = (info.get("warmup") or {}).get("ms")
        pid = runtime.workerd_pid()
        wait_idle(pid, timeout=10)
        epoch.rss_warm = rss_bytes(pid)
        epoch.wasm_warm = self._memory(runtime)["wasm_heap"]
        epoch.rss_max = epoch.rss_warm
        self.epochs.append(epoch)
        self._pid = pid

    def _calibrate(self, runtime: BenchRuntime) -> None:
        """The runtime's own RSS growth: requests for a public file, which the asset
        layer serves without running the Worker, at the load's concurrency."""
        statics = sorted({p.url for p in self.probes if p.kind == "static"})
        count = min(1000, self.args.requests)
        if not statics:
            return
        pid = runtime.workerd_pid()
        wait_idle(pid, timeout=10)
        before = rss_bytes(pid)
        result = run_load(runtime.url, statics, concurrency=self.args.concurrency, total=count)
        wait_idle(pid, timeout=10)
        after = rss_bytes(pid)
        self.calibration = {
            "path": statics[0] if len(statics) == 1 else statics,
            "requests": result.requests,
            "statuses": {str(k): v for k, v in result.statuses.items()},
            "rss_before": before,
            "rss_after": after,
            "growth_per_request": (after - before) / result.requests if result.requests else None,
        }
        log(
            f"calibration: {result.requests} public-file requests grew workerd's RSS "
            f"{_mib(after - before)}"
        )

    def _end_epoch(self, runtime: BenchRuntime, sent: int) -> None:
        epoch = self.epochs[-1]
        epoch.requests = sent - sum(e.requests for e in self.epochs[:-1])
        pid = self._pid
        if pid is not None:
            wait_idle(pid, timeout=10)
            epoch.rss_end = rss_bytes(pid)
            epoch.rss_max = max(epoch.rss_max, epoch.rss_end)
        share = fault_share(runtime.asset_log())
        epoch.fetches, epoch.faulted, epoch.fault_kinds = (
            share["fetches"],
            share["faulted"],
            share["kinds"],
        )
        python = runtime.python_log()
        lines = [o.get("line", "") for o in python.get("output", [])]
        epoch.warnings = sum(1 for line in lines if line.startswith("WARNING"))
        epoch.tracebacks = sum(1 for line in lines if "Traceback" in line)
        epoch.uncaught = len(python.get("errors", []))
        memory = self._memory(runtime)
        epoch.wasm_end = memory["wasm_heap"]
        epoch.cache = memory["cache"]
        log(
            f"isolate {epoch.number}: {epoch.fetches} fetches, {epoch.faulted} faulted "
            f"({len(epoch.faults)} files), RSS max {_mib(epoch.rss_max)}, "
            f"WASM {_mib(epoch.wasm_end)}"
        )

    def run(self) -> None:
        args = self.args
        started = time.monotonic()
        deadline = self.run_started + args.max_seconds
        rng = random.Random(args.seed)
        epochs = args.restarts + 1
        boundaries = [round(args.requests * k / epochs) for k in range(1, epochs)]
        runtime = BenchRuntime(self.project, self.workdir / "runtime.log")
        runtime.start()
        self.warmup_info = runtime.warmup_info or {}
        sampler = threading.Thread(target=self._sampler, daemon=True)
        sampler.start()
        try:
            self._calibrate(runtime)
            self._begin_epoch(runtime, rng, restart=True)
            gate = Gate(args.requests, boundaries, deadline)
            parts = urlsplit(runtime.url)
            base = (parts.hostname or "127.0.0.1", parts.port or 80)
            threads = [
                threading.Thread(target=self._worker, args=(gate, base), daemon=True)
                for _ in range(args.concurrency)
            ]
            load_started = time.monotonic()
            paused = 0.0
            for thread in threads:
                thread.start()
            while True:
                state = gate.wait_quiet()
                self._end_epoch(runtime, gate.sent)
                if state == "end":
                    break
                if time.monotonic() > deadline:
                    gate.stop()
                    break
                pause = time.monotonic()
                self._begin_epoch(runtime, rng, restart=True)
                log(f"{gate.sent:,} requests sent; isolate {len(self.epochs) - 1} started")
                paused += time.monotonic() - pause
                gate.reopen()
            for thread in threads:
                thread.join(timeout=args.timeout + 5)
            self.load_seconds = time.monotonic() - load_started - paused
            self.rss_final = self.epochs[-1].rss_end
            self.requests_sent = gate.sent
        finally:
            self._sampling.set()
            runtime.control("DELETE", "/faults")
            runtime.stop()
        self.wall_seconds = time.monotonic() - started

    # -- results --

    def summary(self) -> dict[str, Any]:
        records = self.records
        statuses = Counter(str(r.status) for r in records)
        cache = Counter(r.cache_status for r in records)
        phases = Counter(r.phase for r in records if r.phase)
        groups: dict[str, Any] = {}
        for group in WEIGHTS:
            mine = [r for r in records if r.group == group]
            if not mine:
                continue
            groups[group] = {
                "requests": len(mine),
                "statuses": dict(Counter(str(r.status) for r in mine)),
                "phases": dict(Counter(r.phase for r in mine if r.phase)),
                "cache_statuses": dict(Counter(r.cache_status for r in mine)),
                "wrong": sum(1 for r in mine if not r.ok),
                "latency_ms": latency_summary([r.ms for r in mine if r.status]),
            }
        all_entries_fetched = sum(e.fetches for e in self.epochs)
        all_faulted = sum(e.faulted for e in self.epochs)
        kinds: Counter[str] = Counter()
        for e in self.epochs:
            kinds.update(e.fault_kinds)
        warm = [(e.rss_warm, e.wasm_warm) for e in self.epochs if e.rss_warm and e.wasm_warm]
        limit = self.args.rss_limit_mb * MIB if self.args.rss_limit_mb else rss_limit(warm)
        return {
            "requests": len(records),
            "requested": self.args.requests,
            "concurrency": self.args.concurrency,
            "epochs": len(self.epochs),
            "max_seconds": self.args.max_seconds,
            "load_seconds": self.load_seconds,
            "wall_seconds": self.wall_seconds,
            "throughput_rps": len(records) / self.load_seconds if self.load_seconds else 0.0,
            "latency_ms": latency_summary([r.ms for r in records if r.status]),
            "statuses": dict(sorted(statuses.items())),
            "cache_statuses": dict(sorted(cache.items())),
            "phases": dict(phases),
            "fallback_renders": fallback_renders(records),
            "checked": len(records),
            "wrong": sum(1 for r in records if not r.ok),
            "transport_errors": self.transport_errors,
            "reconnects": self.reconnects,
            "groups": groups,
            "urls": len(self.probes),
            "faults": {
                "fetches": all_entries_fetched,
                "faulted": all_faulted,
                "share": all_faulted / all_entries_fetched if all_entries_fetched else 0.0,
                "kinds": dict(sorted(kinds.items())),
                "target": self.args.fault_rate,
                "files": len(self.files),
            },
            "memory": {
                "rss_max": max((e.rss_max for e in self.epochs), default=None),
                "rss_final": self.rss_final,
                "rss_limit": limit,
                "rss_samples": len(self.rss_samples),
                "wasm_max": max((e.wasm_end or 0 for e in self.epochs), default=None),
                "growth_per_request": growth_per_request(self.epochs),
                "calibration": self.calibration,
                "cache": [e.cache for e in self.epochs if e.cache],
            },
            "python": {
                "tracebacks": sum(e.tracebacks for e in self.epochs),
                "uncaught": sum(e.uncaught for e in self.epochs),
                "warnings": sum(e.warnings for e in self.epochs),
            },
            "problems": self.problems[:50],
        }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load with faults against the local runtime (loopback only): a mix of "
        "routes at high concurrency while a share of the Worker's asset fetches fail or are "
        "delayed and isolates restart; checks every response against an oracle, 5xx, "
        "memory. Bounded by --requests and --max-seconds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help=f"requests to send (default {DEFAULT_REQUESTS:,}; {QUICK_REQUESTS:,} with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_REQUESTS:,} requests; results are written only with an explicit --out-dir",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="client threads, each on its own keep-alive connection",
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.10, help="share of asset fetches to fault (0-1)"
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=None,
        help="isolate restarts during the run (default: one per 1,000 requests, at least 1)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=900,
        help="wall-time bound of the whole run, build included; requests stop being sent after it",
    )
    parser.add_argument("--timeout", type=float, default=60, help="per-request timeout, seconds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the schedule and the faults")
    parser.add_argument(
        "--rss-interval", type=float, default=0.25, help="seconds between RSS samples"
    )
    parser.add_argument(
        "--rss-limit-mb",
        type=float,
        default=None,
        help="RSS bound in MiB (default: fixed part after warm-up + 128 MB)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help=f"where <name>.json and <name>.md go (default "
        f"{RESULTS_DIR.relative_to(ROOT)}, or nowhere with --quick)",
    )
    parser.add_argument("--name", default="load", help="results file name")
    parser.add_argument(
        "--worktree",
        action="store_true",
        help="serve src/ (and use scripts/, wrangler.toml) as they are in the working tree; "
        "by default they come from the commit (HEAD), snapshot when the run starts",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS
    if args.out_dir is None and not args.quick:
        args.out_dir = RESULTS_DIR
    if args.restarts is None:
        args.restarts = max(1, args.requests // 1000)
    if args.requests < 1 or args.concurrency < 1 or args.restarts < 0:
        parser.error("--requests and --concurrency must be >= 1, --restarts >= 0")
    if args.restarts >= args.requests:
        parser.error("--restarts must be below --requests")
    if not 0 <= args.fault_rate < 1:
        parser.error("--fault-rate must be within [0, 1)")
    if args.max_seconds <= 0 or args.timeout <= 0 or args.rss_interval <= 0:
        parser.error("--max-seconds, --timeout and --rss-interval must be positive")
    return args


def command_line(argv: Sequence[str] | None) -> str:
    words = list(sys.argv[1:] if argv is None else argv)
    return " ".join([".venv/bin/python bench/load_faults.py", *words]).strip()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run_started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="load-faults-"))
    run = LoadRun(args, workdir)
    run.run_started = run_started
    try:
        run.prepare()
        run.run()
    except Exception as exc:  # the runtime or the build failed: no result to report
        log(f"the run failed: {exc}")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = run.summary()
    checks = evaluate_checks(summary, args.fault_rate)
    machine = machine_info()
    python = run.warmup_info.get("python")
    machine["python_in_worker"] = str(python).split()[0] if python else None
    urls = summary["urls"]
    payload = {
        "benchmark": "load_faults",
        "command": command_line(argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine,
        "git": run.git,
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "summary": summary,
        "checks": checks,
        "epochs": [asdict(e) for e in run.epochs],
        "method": METHOD.format(
            requested=args.requests,
            concurrency=args.concurrency,
            urls=urls,
            groups=len(summary["groups"]),
            epochs=len(run.epochs),
            files=len(run.files),
            rate=args.fault_rate,
        ),
    }
    print(markdown_table(("figure", "value"), table_rows(summary)))
    print()
    print(
        markdown_table(
            (
                "group",
                "requests",
                "statuses",
                "seeded / rendered",
                "wrong",
                "median / p95 / p99 ms",
            ),
            group_rows(summary),
        )
    )
    print()
    for c in checks:
        print(f"{c['status']}  {c['label']}: {c['detail']}")
    for problem in summary["problems"][:10]:
        print(f"  wrong: {problem['url']} -> {problem['problem']}")
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / f"{args.name}.json").write_text(json.dumps(payload, indent=1) + "\n")
        (args.out_dir / f"{args.name}.md").write_text(render_markdown(payload))
        log(f"wrote {args.out_dir / args.name}.json and .md")
    return 0 if all(c["status"] == "PASS" for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

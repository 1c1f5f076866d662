"""The soak's oracle: what each URL must answer, and the check of every response.

Pages: the status, content type and body the site's renderer gives for the URL's route
and variant (rendered under CPython from the snapshot, compared with the generation stamp
removed: the only part in which a seeded page and a render may differ; pages that show the
time are checked by route, title and data link instead), and a build-time page is only
accepted for a route the build prerendered. Redirects: 308 and the exact Location. Private
spellings: 404 without a byte of a private file, or a redirect to a private path. Public
files: their bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from bench.soak.mix import PRIVATE_PREFIX, Probe


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


# Run in a child CPython whose PYTHONPATH is the snapshot's src/ (its `app` and `seeding`).
RENDER_SNIPPET = r"""
import asyncio, base64, json, sys
from app import SITE
from seeding.rendering import RenderRequest
from seeding.routes import Variant
request = json.load(sys.stdin)
routes = asyncio.run(SITE.site_routes())
out = {"modes": {r.path: r.mode.value for r in routes}, "renders": []}
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
        [sys.executable, "-c", RENDER_SNIPPET],
        env={**os.environ, "PYTHONPATH": str(src)},
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

"""Cache poisoning over HTTP: two clients that differ in one thing never see each other's page.

The probe (`tests/worker/poison_probe`) is a naive Starlette app behind the seeding layer,
with the shared tier (KV, D1) bound: its pages show the request's host and scheme
(`url_for`, `base_url`), trust proxy and override headers as a naive app does, gzip their
body for a client that asks, greet in the client's language and greet the user named by a
session cookie or `Authorization`. It sends no `Vary`. The module builds it once (its
dependencies vendored as the Starlette example's are, prerendered and copied with the
package's own commands) and serves it once in the local runtime.

Each case is a pair of clients, A and B, whose requests differ in one header. A asks first
(so A's answer is the one a cache would store), then B, then A again, for a page built
ahead (`/built/`, seeded; `/expired/`, the same, expired on demand first, so that A's request
renders it), rendered on request (`/live/`, cached for an hour) and regenerated
(`/isr/`, stale after 1 s: the build's copy is already stale when the suite runs, so the
first request triggers the regeneration, and B asks until the regenerated page is served).
What one client's header put in a page (a host, a scheme, a path, a method, a language, a
user name) must never reach the other, and a `Set-Cookie` never crosses. Gzip is checked on
its own: a client that did not ask for gzip never gets gzip bytes, and one that did gets the
page gzipped once. Last, a page that regenerates to a 404 setting a cookie never hands that
cookie to anyone else. A first test shows the probe is not blind: a signed-in client (never
served from the cache) sees its own value on the page. Local runtime only.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.vendor import vendor_project
from tests.worker.conftest import (
    REVALIDATE_SECRET,
    ROOT,
    TARGET,
    HttpResponse,
    WorkerClient,
    serve_project,
    wait_for,
)
from tests.worker.test_example_starlette import EXAMPLE

pytestmark = pytest.mark.skipif(TARGET != "local", reason="the probe runs on the local runtime")

PROBE = Path(__file__).resolve().parent / "poison_probe"
GZIP_MAGIC = b"\x1f\x8b"
CACHED = ("HIT", "STALE")
REGENERATION_TIMEOUT_S = 15


@dataclass(frozen=True)
class Case:
    """Two clients that differ in one header: `name` sent with `a` by A and with `b` by B
    (None: not sent). `a_marks` / `b_marks`: what the page shows when the app read that
    client's value."""

    id: str
    name: str
    a: str
    b: str | None
    a_marks: tuple[str, ...]
    b_marks: tuple[str, ...] = ()

    def headers(self, client: str) -> dict[str, str]:
        value = self.a if client == "a" else self.b
        return {} if value is None else {self.name: value}


def forwarded_case(header: str, a: str, b: str) -> Case:
    return Case(header, header, a, b, (a,), (b,))


def scheme_case(header: str) -> Case:
    a, b = f"a-{header[-5:]}", f"b-{header[-5:]}"
    return Case(header, header, a, b, (f"{a}://",), (f"{b}://",))


def method_case(header: str, a: str, b: str) -> Case:
    return Case(header, header, a, b, (f"method: {a}",), (f"method: {b}",))


CASES = [
    forwarded_case("host", "a-host.example", "b-host.example"),
    forwarded_case("x-forwarded-host", "a-forwarded-host.example", "b-forwarded-host.example"),
    scheme_case("x-forwarded-proto"),
    scheme_case("x-forwarded-scheme"),
    Case(
        "forwarded",
        "forwarded",
        "for=192.0.2.1;host=a-forwarded.example;proto=a-fwd",
        "for=192.0.2.2;host=b-forwarded.example;proto=b-fwd",
        ("a-forwarded.example", "a-fwd://"),
        ("b-forwarded.example", "b-fwd://"),
    ),
    forwarded_case("x-host", "a-x-host.example", "b-x-host.example"),
    Case(
        "x-original-url",
        "x-original-url",
        "/live/a-original",
        "/live/b-original",
        ("a-original",),
        ("b-original",),
    ),
    Case(
        "x-rewrite-url",
        "x-rewrite-url",
        "/live/a-rewrite",
        "/live/b-rewrite",
        ("a-rewrite",),
        ("b-rewrite",),
    ),
    method_case("x-http-method-override", "PUT", "DELETE"),
    method_case("x-http-method", "PATCH", "DELETE"),
    method_case("x-method-override", "PUT", "PATCH"),
    Case("accept-encoding", "accept-encoding", "gzip", "identity", ()),  # A's mark: a gzip body
    Case(
        "accept-language",
        "accept-language",
        "fr-FR,fr;q=0.9",
        "de-DE",
        ("Bonjour",),
        ("Guten Tag",),
    ),
    Case("cookie", "cookie", "theme=a-theme", "theme=b-theme", ("a-theme",), ("b-theme",)),
    Case("malformed-cookie", "cookie", 'pref={"a":1}; session=alice', 'pref={"a":1}', ("alice",)),
    Case("session-cookie", "cookie", "session=alice", None, ("alice",)),
    Case("authorization", "authorization", "Bearer alice-token", None, ("alice-token",)),
]
ACCEPT_ENCODING = next(case for case in CASES if case.id == "accept-encoding")
# The cases whose pages show the client's value (gzip is checked on its own, below).
MARKED = [case for case in CASES if case.a_marks]
KINDS = ("built", "expired", "live", "isr")
GONE = "regenerated-to-a-404"


# --- the probe project ------------------------------------------------------------------------


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def probe_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe in a folder of its own: its src/ and wrangler.toml, the project's D1
    migrations, the Starlette example's vendored packages (the same dependencies, and this
    checkout's seeding package), built and copied."""
    request.getfixturevalue("runtime_installed")
    vendor_project(EXAMPLE, log=lambda line: None)
    root = tmp_path_factory.mktemp("poisoning") / "probe"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(PROBE, root, ignore=skip)
    shutil.copytree(ROOT / "migrations", root / "migrations")
    shutil.copytree(EXAMPLE / "python_modules", root / "python_modules", symlinks=True)
    names = [case.id for case in CASES]
    (root / "src" / "poison_cases.py").write_text(f"CASES = {names!r}\nGONE = {[GONE]!r}\n")
    scripts = Path(sys.executable).parent
    _run([str(scripts / "seeding-prerender"), "--site", "poison_site:SITE", "--out", "build"], root)
    _run([str(scripts / "seeding-copy"), "build", "public"], root)
    return root


@pytest.fixture(scope="module")
def probe(probe_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerClient]:
    for clients in serve_project(probe_project, tmp_path_factory.mktemp("poisoning-runtime")):
        yield clients[0]


# --- what the clients see ---------------------------------------------------------------------


def cache_status(response: HttpResponse) -> str:
    return response.headers.get("x-cache-status", "")


def shown(response: HttpResponse) -> str:
    """Everything a client gets, as text: the headers and the body, ungzipped (as often as
    it was gzipped: the runtime gzips again a body the app gzipped)."""
    body = response.body
    while body.startswith(GZIP_MAGIC):
        body = gzip.decompress(body)
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return headers + "\n\n" + body.decode("utf-8", errors="replace")


def regenerated(response: HttpResponse) -> bool:
    return cache_status(response) == "HIT" and "made in the Worker" in shown(response)


def visit(
    probe: WorkerClient, case: Case, kind: str
) -> tuple[list[HttpResponse], list[HttpResponse]]:
    """A asks, then B (until the regenerated page is served, for `isr`), then A again: the
    answers each client got. An `expired` page is expired on demand first (the revalidation
    endpoint, mode "expire"), so A's request renders it."""
    path = f"/{kind}/{case.id}"
    if kind == "expired":
        answer = probe.request(
            "POST",
            "/__revalidate",
            {"authorization": f"Bearer {REVALIDATE_SECRET}", "content-type": "application/json"},
            json.dumps({"paths": [path], "mode": "expire"}).encode(),
        )
        assert answer.status == 200, answer.text
    a_answers = [probe.get(path, case.headers("a"))]
    b_answers = [probe.get(path, case.headers("b"))]
    if kind == "isr":

        def b_sees_the_regenerated_page() -> bool:
            b_answers.append(probe.get(path, case.headers("b")))
            return regenerated(b_answers[-1])

        assert wait_for(
            b_sees_the_regenerated_page, timeout=REGENERATION_TIMEOUT_S, interval=0.2
        ), (
            f"{path} was not regenerated within {REGENERATION_TIMEOUT_S} s: "
            f"{[cache_status(r) for r in b_answers]}"
        )
    a_answers.append(probe.get(path, case.headers("a")))
    return a_answers, b_answers


def set_cookies(responses: list[HttpResponse]) -> set[str]:
    return {r.headers["set-cookie"] for r in responses if "set-cookie" in r.headers}


# --- the suite --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_probe_shows_a_signed_in_client_what_its_header_says(
    probe: WorkerClient, case: Case
) -> None:
    """The suite is not blind: a request with credentials is never answered from the cache,
    so it is rendered from the client's own request, and the page shows A's value."""
    signed_in = {"authorization": "Bearer probe-reader", **case.headers("a")}
    answer = probe.get(f"/private/{case.id}", signed_in)
    assert answer.status == 200, shown(answer)[:2000]
    if case.id == "accept-encoding":
        assert answer.headers.get("content-encoding") == "gzip"
        assert answer.body.startswith(GZIP_MAGIC)
    for mark in case.a_marks:
        assert mark in shown(answer)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", MARKED, ids=lambda case: case.id)
def test_two_clients_differing_in_one_header_never_see_each_others_page(
    probe: WorkerClient, case: Case, kind: str
) -> None:
    a_answers, b_answers = visit(probe, case, kind)
    for answer in a_answers + b_answers:
        assert answer.status == 200, (cache_status(answer), shown(answer)[:2000])
    for answer in b_answers:
        for mark in case.a_marks:
            assert mark not in shown(answer), (cache_status(answer), shown(answer)[:2000])
    for answer in a_answers:
        for mark in case.b_marks:
            assert mark not in shown(answer), (cache_status(answer), shown(answer)[:2000])
    # A Set-Cookie is one client's: never served from the cache, never handed to the other.
    for answer in a_answers + b_answers:
        if cache_status(answer) in CACHED:
            assert "set-cookie" not in answer.headers, shown(answer)[:2000]
    assert set_cookies(a_answers).isdisjoint(set_cookies(b_answers))


@pytest.mark.parametrize("kind", [*KINDS, "private"])
def test_a_gzip_body_reaches_only_the_client_that_asked_for_it_gzipped_once(
    probe: WorkerClient, kind: str
) -> None:
    """GZipMiddleware gzips the page for A (`Accept-Encoding: gzip`); B asks for `identity`.
    B gets the page as it is; A gets it gzipped once (a browser ungzips once, then reads)."""
    a_answers, b_answers = visit(probe, ACCEPT_ENCODING, kind)
    for answer in b_answers:
        assert answer.status == 200, shown(answer)[:2000]
        assert "gzip" not in answer.headers.get("content-encoding", ""), shown(answer)[:2000]
        assert not answer.body.startswith(GZIP_MAGIC), (cache_status(answer), answer.body[:200])
        assert f"probe page {kind}/{ACCEPT_ENCODING.id}" in answer.text
    for answer in a_answers:
        assert answer.status == 200, shown(answer)[:2000]
        body = answer.body
        if answer.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        assert body.startswith(b"<!doctype html>"), (cache_status(answer), body[:200])


def test_a_page_that_regenerates_to_a_404_with_a_cookie_never_hands_the_cookie_on(
    probe: WorkerClient,
) -> None:
    """The page was removed after the build: its regeneration answers a 404 that sets a
    cookie. That 404 belongs to the render that made it, not to every later client."""
    path = f"/gone/{GONE}"
    first = probe.get(path)  # the build's copy, stale: served, and regenerated
    assert first.status == 200 and cache_status(first) == "STALE", shown(first)[:2000]
    answers = [probe.get(path) for _ in range(3)]
    answers += [probe.get(path, {"accept-language": "fr"}) for _ in range(2)]
    for answer in answers:
        assert answer.status in (200, 404), shown(answer)[:2000]
        if cache_status(answer) in CACHED:
            assert "set-cookie" not in answer.headers, shown(answer)[:2000]
    tokens = [r.headers["set-cookie"] for r in answers if "set-cookie" in r.headers]
    assert len(tokens) == len(set(tokens)), tokens  # no client got another's cookie

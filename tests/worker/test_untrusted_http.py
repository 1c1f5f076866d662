"""What the Worker sends and keys, over HTTP in the local runtime, on a small project of
its own (a raw ASGI app, no prerendered build, KV bound): headers reach the client as
the app sent them (two Set-Cookie are two headers; a value the platform would reject is
dropped, never a 500), a body over its limit is refused, and a second deploy (a restart:
the runtime re-reads the code, and the version metadata binding changes) never serves
the first deploy's pages from KV."""

from __future__ import annotations

import http.client
import re
import shutil
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.worker.conftest import ROOT, TARGET, WorkerClient, serve_project, wait_for

pytestmark = pytest.mark.skipif(TARGET != "local", reason="a project of its own: local runtime")

APP = """
import time

from seeding.asgi import AsgiSite
from seeding.worker import entrypoint


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    headers = [(b"content-type", b"text/plain")]
    if path == "/cookies":
        headers += [(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2; HttpOnly")]
    elif path == "/bad-header":
        headers += [(b"x-bad", b"one\\r\\nx-injected: 1"), (b"x-good", b"kept")]
    body = f"{path} rendered at {time.time()!r}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


Default = entrypoint(AsgiSite(app))
"""

WRANGLER = """
name = "untrusted-http-test"
main = "src/entry.py"
compatibility_date = "{date}"
compatibility_flags = {flags}

[version_metadata]
binding = "CF_VERSION_METADATA"

[[kv_namespaces]]
binding = "PAGES"
"""


def project_wrangler() -> str:
    own = (ROOT / "wrangler.toml").read_text()
    date = re.search(r'(?m)^compatibility_date = "([^"]+)"', own)
    flags = re.search(r"(?m)^compatibility_flags = (\[.*\])", own)
    assert date and flags
    return WRANGLER.format(date=date.group(1), flags=flags.group(1))


@pytest.fixture(scope="module")
def pair(
    runtime_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[WorkerClient]]:
    root = tmp_path_factory.mktemp("untrusted") / "project"
    shutil.copytree(
        ROOT / "src" / "seeding",
        root / "src" / "seeding",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (root / "src" / "entry.py").write_text(APP)
    (root / "wrangler.toml").write_text(project_wrangler())
    (root / "python_modules").symlink_to(ROOT / "python_modules", target_is_directory=True)
    yield from serve_project(root, root.parent, isolates=2)


def raw_get(client: WorkerClient, path: str) -> http.client.HTTPResponse:
    parts = urlsplit(client.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_two_set_cookie_headers_arrive_as_two_headers(pair: list[WorkerClient]) -> None:
    response = raw_get(pair[0], "/cookies")
    assert response.status == 200
    assert response.msg.get_all("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_a_header_value_the_platform_would_reject_is_dropped_not_a_500(
    pair: list[WorkerClient],
) -> None:
    response = raw_get(pair[0], "/bad-header")
    assert response.status == 200
    assert response.getheader("x-good") == "kept"
    assert response.getheader("x-bad") is None and response.getheader("x-injected") is None
    errors = pair[0].python_log()["errors"]
    assert errors == [], errors


def test_a_body_declared_over_the_render_limit_is_refused_with_413_unread(
    pair: list[WorkerClient],
) -> None:
    parts = urlsplit(pair[0].base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest("POST", "/form")
    conn.putheader("content-length", str(4 * 1024 * 1024 + 1))
    conn.endheaders(b"x" * 1024)  # the rest never comes: the Worker must not wait for it
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


def test_a_new_deploy_never_serves_the_previous_deploys_pages_without_a_build(
    pair: list[WorkerClient],
) -> None:
    a, b = pair
    first = a.get("/page")
    assert first.headers["x-cache-status"] == "MISS"
    # The same deploy shares it through KV: another isolate serves it without a render.
    shared = wait_for(lambda: (r := b.get("/page")).body == first.body and r, timeout=10)
    assert shared and shared.headers["x-cache-status"] == "HIT"

    a.control.restart()  # a new deploy: the same KV, a new version
    time.sleep(0.1)
    for client in (a, b):
        again = client.get("/page")
        assert again.body != first.body, "served the previous deploy's page from KV"

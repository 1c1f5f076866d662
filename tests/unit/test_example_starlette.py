"""The Starlette + Jinja2 example site (`examples/starlette-blog`), under CPython.

The app is driven through Starlette's TestClient, as the seeding layer drives it: in
process, no socket. The releases page reads a loopback `http.server` started here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import anyio.to_thread
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from tests.loopback import LoopbackServer

with warnings.catch_warnings():
    # Starlette 1.10 prefers `httpx2` for its TestClient; `httpx` still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

EXAMPLE_SRC = Path(__file__).resolve().parents[2] / "examples" / "starlette-blog" / "src"

POSTS_CACHE_CONTROL = "public, s-maxage=60, stale-while-revalidate=3600"
RELEASES_CACHE_CONTROL = "public, s-maxage=2, stale-while-revalidate=600"
ON_DEMAND_POST = "/posts/on-demand-pages"
ESCAPING_POST = "/posts/escaping-by-default"

# 2025-01-02 03:04:05 UTC
FIXED_NOW = 1735787045.0


def import_blog_app() -> ModuleType:
    """A fresh import of the example's package, from its own `src/`."""
    for name in [name for name in sys.modules if name.split(".")[0] == "blog_app"]:
        del sys.modules[name]
    return importlib.import_module("blog_app")


@pytest.fixture(scope="module")
def blog() -> Iterator[ModuleType]:
    sys.path.insert(0, str(EXAMPLE_SRC))
    try:
        yield import_blog_app()
    finally:
        sys.path.remove(str(EXAMPLE_SRC))
        for name in [name for name in sys.modules if name.split(".")[0] == "blog_app"]:
            del sys.modules[name]


@pytest.fixture
def client(blog: ModuleType) -> TestClient:
    return TestClient(blog.app)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the time every page reads while rendering."""

    def set_now(now: float) -> None:
        monkeypatch.setattr(time, "time", lambda: now)

    return set_now


# Pages, their status and their cache headers --------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "cache_control", "cache_tag"),
    [
        ("/", 200, None, None),
        ("/about", 200, None, None),
        ("/posts", 200, POSTS_CACHE_CONTROL, "posts"),
        ("/posts/hello-starlette", 200, POSTS_CACHE_CONTROL, "posts, post:hello-starlette"),
        (ON_DEMAND_POST, 200, POSTS_CACHE_CONTROL, "posts, post:on-demand-pages"),
        ("/tags/python", 200, POSTS_CACHE_CONTROL, "posts, tag:python"),
        ("/api/posts.json", 200, POSTS_CACHE_CONTROL, "posts"),
        ("/now", 200, "no-store", None),
        ("/search?q=cache", 200, "private, no-store", None),
        ("/no-such-page", 404, "no-store", None),
        ("/posts/no-such-post", 404, "no-store", None),
        ("/tags/no-such-tag", 404, "no-store", None),
    ],
)
def test_each_page_answers_with_its_status_and_cache_headers(
    client: TestClient, path: str, status: int, cache_control: str | None, cache_tag: str | None
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers.get("cache-control") == cache_control
    assert response.headers.get("cache-tag") == cache_tag


def test_the_prerender_list_holds_static_and_isr_pages_only(blog: ModuleType) -> None:
    prerender = blog.PRERENDER
    assert {"/", "/about", "/posts", "/posts/hello-starlette", "/tags/python"} <= set(prerender)
    assert "/api/posts.json" in prerender
    for not_prerendered in (ON_DEMAND_POST, "/releases", "/now", "/search"):
        assert not_prerendered not in prerender
    assert len(prerender) == len(set(prerender))


def test_every_prerendered_path_renders_a_cacheable_page(
    blog: ModuleType, client: TestClient
) -> None:
    for path in blog.PRERENDER:
        response = client.get(path)
        assert response.status_code == 200, path
        cache_control = response.headers.get("cache-control", "")
        assert "no-store" not in cache_control and "private" not in cache_control, path
        assert "set-cookie" not in response.headers, path


def test_the_on_demand_post_is_linked_from_the_index_though_not_prerendered(
    client: TestClient,
) -> None:
    assert f'href="{ON_DEMAND_POST}"' in client.get("/posts").text
    feed = client.get("/api/posts.json").json()["posts"]
    assert ON_DEMAND_POST in [post["path"] for post in feed]


def test_the_json_feed_lists_every_post_with_its_title_and_tags(client: TestClient) -> None:
    posts = client.get("/api/posts.json").json()["posts"]
    by_path = {post["path"]: post for post in posts}
    assert by_path["/posts/hello-starlette"]["title"] == "Hello, Starlette"
    assert "python" in by_path["/posts/hello-starlette"]["tags"]
    assert len(by_path) == len(posts) >= 6


# Layout, generated-at line, escaping -----------------------------------------------


def test_every_page_shares_the_layout_and_says_when_it_was_generated(
    client: TestClient, clock: Callable[[float], None]
) -> None:
    clock(FIXED_NOW)
    for path in ("/", "/about", "/posts", "/posts/hello-starlette", "/now", "/nowhere"):
        html = client.get(path).text
        assert '<a class="brand" href="/">Edge Notes</a>' in html, path
        assert '<a href="/posts"' in html and '<a href="/about"' in html, path
        assert "<footer>" in html, path
        assert "Generated at" in html and "2025-01-02 03:04:05 UTC" in html, path


def test_the_generated_line_is_read_at_each_request(
    client: TestClient, clock: Callable[[float], None]
) -> None:
    clock(FIXED_NOW)
    assert "2025-01-02 03:04:05 UTC" in client.get("/now").text
    clock(FIXED_NOW + 61)
    assert "2025-01-02 03:05:06 UTC" in client.get("/now").text


def test_search_prints_a_hostile_query_as_text(client: TestClient) -> None:
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    html = client.get("/search", params={"q": hostile}).text
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'value="&#34;&gt;&lt;script&gt;' in html  # the attribute stays closed


def test_search_finds_posts_by_title_ignoring_case(client: TestClient) -> None:
    html = client.get("/search", params={"q": "STARLETTE"}).text
    assert '<a href="/posts/hello-starlette">Hello, Starlette</a>' in html
    assert "1 result for" in html
    assert '<a href="/posts/cache-tags">' not in html


def test_a_post_with_markup_in_its_text_shows_it_as_text(client: TestClient) -> None:
    html = client.get(ESCAPING_POST).text
    assert "<h1>Escaping &lt;script&gt; &amp; &#34;quotes&#34; by default</h1>" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_an_unknown_path_gets_the_404_page_naming_it(client: TestClient) -> None:
    response = client.get("/no/such/<page>")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in response.text
    assert "<code>/no/such/&lt;page&gt;</code>" in response.text


def test_about_is_a_sync_endpoint_that_renders_when_to_thread_runs_inline(
    blog: ModuleType, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the Workers SDK does in Pyodide, which has no threads: run the function inline.
    inline_calls: list[str] = []

    async def run_inline(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        inline_calls.append(getattr(function, "func", function).__name__)  # a partial
        return function(*args)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_inline)
    response = client.get("/about")
    assert not inspect.iscoroutinefunction(importlib.import_module("blog_app.pages").about)
    assert response.status_code == 200
    assert "<h1>About</h1>" in response.text
    assert inline_calls == ["about"]


# Import-time behaviour -------------------------------------------------------------


def test_importing_the_app_reads_no_clock_or_random_source(
    blog: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any) -> Any:
        raise AssertionError("read at import time; read it inside a request instead")

    for module, name in [
        (time, "time"),
        (time, "time_ns"),
        (time, "monotonic"),
        (random, "random"),
        (random, "getrandbits"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    fresh = import_blog_app()
    assert fresh.app is not blog.app  # really imported again
    assert len(fresh.PRERENDER) == len(blog.PRERENDER)


# The releases page and its upstream ------------------------------------------------

RELEASES = [
    {
        "tag_name": "v2.0.0",
        "name": "Two <b>bold</b>",
        "published_at": "2025-11-20T09:30:00Z",
        "body": "First paragraph & notes.\n\nSecond paragraph, not shown.",
    },
    {"tag_name": "v1.0.0", "name": None, "published_at": None, "body": None},
]


class Upstream:
    """A loopback JSON API whose answer a test sets: a status and a body."""

    def __init__(self) -> None:
        self.status = 200
        self.body = json.dumps(RELEASES).encode()
        self.loopback = LoopbackServer("/releases.json", lambda _: (self.status, JSON, self.body))
        self.url = self.loopback.url

    @property
    def requests(self) -> int:
        return self.loopback.requests

    def answer(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


JSON = "application/json"


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Upstream]:
    server = Upstream()
    monkeypatch.setenv("UPSTREAM_URL", server.url)
    try:
        yield server
    finally:
        server.loopback.close()


def test_releases_are_rendered_from_the_upstream_then_a_failing_upstream_gives_502(
    client: TestClient, upstream: Upstream
) -> None:
    response = client.get("/releases")
    assert response.status_code == 200
    assert response.headers["cache-control"] == RELEASES_CACHE_CONTROL
    assert response.headers["cache-tag"] == "releases"
    assert "<strong>v2.0.0</strong> · Two &lt;b&gt;bold&lt;/b&gt;" in response.text
    assert "2025-11-20" in response.text
    assert "First paragraph &amp; notes." in response.text
    assert "Second paragraph" not in response.text
    assert "<strong>v1.0.0</strong>" in response.text

    upstream.answer(500, b'{"error": "down"}')
    failed = client.get("/releases")
    assert failed.status_code == 502
    assert failed.headers["cache-control"] == "no-store"
    assert "cache-tag" not in failed.headers
    assert "<h1>Upstream unavailable</h1>" in failed.text
    assert upstream.requests == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, b"[]"),
        (200, b"<html>not json</html>"),
        (200, b'{"releases": []}'),
        (200, b'[{"name": "no tag_name"}]'),
    ],
    ids=["error status", "not JSON", "not a list", "a release without tag_name"],
)
def test_an_unusable_upstream_answer_gives_502_no_store(
    client: TestClient, upstream: Upstream, status: int, body: bytes
) -> None:
    upstream.answer(status, body)
    response = client.get("/releases")
    assert response.status_code == 502
    assert response.headers["cache-control"] == "no-store"


def test_an_unreachable_upstream_gives_502_no_store(client: TestClient, upstream: Upstream) -> None:
    upstream.loopback.close()  # nothing listens on that port now
    response = client.get("/releases")
    assert response.status_code == 502
    assert response.headers["cache-control"] == "no-store"


def test_a_missing_upstream_url_gives_502_and_logs_how_to_set_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    response = client.get("/releases")
    assert response.status_code == 502
    assert response.headers["cache-control"] == "no-store"
    assert "UPSTREAM_URL is not set: add it to [vars] in wrangler.toml" in caplog.text


def test_the_workers_env_upstream_url_wins_over_the_environment(
    blog: ModuleType, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_URL", "http://127.0.0.1:9/unused")  # discard port

    async def with_worker_env(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope = {**scope, "env": SimpleNamespace(UPSTREAM_URL=upstream.url)}
        await blog.app(scope, receive, send)

    response = TestClient(with_worker_env).get("/releases")
    assert response.status_code == 200
    assert "<strong>v2.0.0</strong>" in response.text
    assert upstream.requests == 1

"""Cache poisoning: nothing but the path can choose what the shared cache stores or
serves. The query string, the host (the URL's and `Host`), `X-Forwarded-Host`,
`Forwarded` and any other request header can neither make a response cached for one
URL be served for another, nor store a response under another URL's key, nor put
their own bytes into what later clients get.

`EchoSite` writes every request header it is given into the page, so anything a
header could smuggle into the cache would show in a later clean response: the tests
first check that the echo is live (the hostile response carries the marker), so they
can fail.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seeding.primitives.cache import cache_key
from seeding.rendering import RenderRequest, RenderResult
from seeding.routes import Variant, resolve_request_path
from tests.unit.fakes import FakeSite
from tests.unit.support import Deploy, Isolate, deploy_once

MARK = "evil.example"
HOSTILE = {
    "host": MARK,
    "x-forwarded-host": MARK,
    "x-forwarded-proto": "gopher",
    "x-forwarded-for": "6.6.6.6",
    "forwarded": f"for=6.6.6.6;host={MARK};proto=http",
    "x-original-url": "/about",
    "x-rewrite-url": "/about",
    "x-http-method-override": "PURGE",
    "x-forwarded-prefix": f"/{MARK}",
    "accept-language": f"xx-{MARK}",
    "user-agent": MARK,
    "cookie": f"theme={MARK}",
    "referer": f"https://{MARK}/",
    "accept": "application/json",
}


class EchoSite(FakeSite):
    """FakeSite whose pages embed the request headers the renderer was given."""

    async def render(self, request: RenderRequest) -> RenderResult:
        result = await super().render(request)
        echo = json.dumps(dict(request.headers), sort_keys=True).encode()
        return RenderResult(
            result.status,
            result.headers,
            result.body + b"<!--" + echo + b"-->",
            revalidate=result.revalidate,
            dynamic=result.dynamic,
        )


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Deploy]:
    base = tmp_path_factory.mktemp("cache-keys")
    return {
        "fake": deploy_once(base / "fake", FakeSite()),
        "echo": deploy_once(base / "echo", EchoSite()),
    }


def isolate(roots: dict[str, Deploy], kind: str = "echo") -> Isolate:
    return Isolate(roots[kind], site=EchoSite() if kind == "echo" else FakeSite())


async def clean_body(roots: dict[str, Deploy], path: str, kind: str = "echo") -> bytes:
    """What a clean request gets from a fresh isolate (same clock)."""
    return (await isolate(roots, kind).request(path)).body


@pytest.mark.parametrize("path", ["/blog/late", "/blog/late.json", "/now", "/missing"])
async def test_hostile_headers_cannot_poison_a_rendered_page(
    roots: dict[str, Path], path: str
) -> None:
    h = isolate(roots)
    hostile = await h.request(path + "?utm=" + MARK, HOSTILE, origin=f"https://{MARK}")
    assert MARK.encode() in hostile.body  # the echo is live: the renderer saw them
    assert hostile.status < 500
    clean = await h.request(path)
    assert MARK.encode() not in clean.body
    assert clean.body == await clean_body(roots, path)
    for key, entry in h.handler.cache._entries.items():
        assert MARK not in key and MARK.encode() not in entry.body, key


async def test_a_page_that_reads_request_headers_is_not_cached(roots: dict[str, Path]) -> None:
    h = isolate(roots)
    first = await h.request("/blog/late")
    second = await h.request("/blog/late")
    assert first.headers["x-cache-status"] == second.headers["x-cache-status"] == "MISS"
    assert first.headers["cache-control"].startswith("private")
    # The first request's canonical render looked at the headers, so it rendered again
    # from the client's own request; the second went to the client's request at once.
    assert h.site.render_count("/blog/late") == 3
    assert len(h.handler.cache) == 0


async def test_a_page_that_ignores_headers_is_still_cached(roots: dict[str, Path]) -> None:
    h = isolate(roots, "fake")
    await h.request("/blog/late", HOSTILE)
    again = await h.request("/blog/late")
    assert again.headers["x-cache-status"] == "HIT"
    assert h.site.render_count("/blog/late") == 1


async def test_a_regeneration_triggered_by_a_hostile_request_stores_a_clean_page(
    roots: dict[str, Path],
) -> None:
    h = isolate(roots)
    seeded = await h.request("/blog/first")
    assert seeded.headers["x-cache-status"] == "HIT" and b"build at" in seeded.body
    h.clock.advance(61)
    stale = await h.request("/blog/first", HOSTILE, origin=f"https://{MARK}")
    assert stale.headers["x-cache-status"] == "STALE"
    assert h.site.render_count("/blog/first") == 1  # regenerated (drained)
    fresh = await h.request("/blog/first")
    assert fresh.headers["x-cache-status"] == "HIT"
    assert b"request at" in fresh.body  # the regenerated page
    assert MARK.encode() not in fresh.body


async def test_private_requests_neither_read_nor_write_the_shared_cache(
    roots: dict[str, Path],
) -> None:
    h = isolate(roots, "fake")
    await h.request("/blog/late")  # cached
    for private in ({"authorization": "Bearer x"}, {"cookie": "session=abc"}):
        response = await h.request("/blog/late", private)
        assert response.headers["x-cache-status"] == "MISS"
        assert response.headers["cache-control"].startswith("private")
    assert h.site.render_count("/blog/late") == 3
    assert (await h.request("/blog/late")).headers["x-cache-status"] == "HIT"


async def test_head_and_conditional_requests_do_not_store_empty_bodies(
    roots: dict[str, Path],
) -> None:
    h = isolate(roots, "fake")
    head = await h.request("/blog/late", method="HEAD")
    assert head.body == b""
    get = await h.request("/blog/late")
    assert get.headers["x-cache-status"] == "HIT" and get.body
    etag = get.headers["etag"]
    not_modified = await h.request("/blog/second", {"if-none-match": "*"})
    assert not_modified.status == 304
    assert (await h.request("/blog/second")).body
    assert (await h.request("/blog/late", {"if-none-match": etag})).status == 304
    assert (await h.request("/blog/late")).body == get.body


async def test_redirects_name_no_host_and_keep_only_the_query(roots: dict[str, Path]) -> None:
    h = isolate(roots)
    response = await h.request("/about/?q=1", HOSTILE, origin=f"https://{MARK}")
    assert response.status == 308
    assert response.headers["location"] == "/about?q=1"
    assert len(h.handler.cache) == 0


# -- any request: keys come from the route key alone ------------------------------------

header_names = st.sampled_from(
    [*HOSTILE, "x-cache-status", "if-none-match", "range", "cache-control", "pragma"]
)
header_values = st.one_of(
    st.sampled_from([MARK, "/about", "/blog/first", "*", "bytes=0-1", "no-cache", ""]),
    st.text(max_size=30),
)
requests = st.tuples(
    st.sampled_from(
        [
            "/",
            "/about",
            "/blog",
            "/blog/first",
            "/blog/first.json",
            "/blog/late",
            "/blog/late.json",
            "/index.json",
            "/now",
            "/missing",
            "/%61bout",
            "/about/",
        ]
    ),
    st.sampled_from(["", "?a=1", f"?host={MARK}", "?x=/about", "?__prerender=1"]),
    st.dictionaries(header_names, header_values, max_size=5),
    st.sampled_from(["https://example.com", f"https://{MARK}", "http://127.0.0.1:8787"]),
    st.sampled_from(["GET", "HEAD"]),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(kind=st.sampled_from(["fake", "echo"]), sequence=st.lists(requests, min_size=1, max_size=6))
def test_any_mix_of_hostile_requests_stores_only_route_keyed_clean_pages(
    roots: dict[str, Deploy], kind: str, sequence
) -> None:
    async def run() -> None:
        h = isolate(roots, kind)
        reference = isolate(roots, kind)
        routes = set()
        for path, query, headers, origin, method in sequence:
            response = await h.request(path + query, headers, method=method, origin=origin)
            assert response.status < 500
            target = resolve_request_path(urlsplit(origin + path).path, data_variant=True)
            if target is not None:
                routes.add((target.variant, target.route))
        # A seed brings every variant of the requested route (one pack), never another's.
        allowed = {
            cache_key(h.handler.build_id, variant, route)
            for _, route in routes
            for variant in Variant
        }
        for key, entry in h.handler.cache._entries.items():
            assert key in allowed, key
            assert MARK.encode() not in entry.body
            # What is stored is what a clean request to a fresh isolate is given.
            _, variant, route = key.split("\x00")
            clean = await reference.request(
                ("/index" if route == "/" else route) + ".json" if variant == "data" else route
            )
            assert clean.body == entry.body, key

    asyncio.run(run())


@pytest.mark.parametrize(
    "origin", ["https://[evil", "https://[::1", "https://[not-an-ip]", "https://evil]"]
)
async def test_a_url_whose_host_cannot_be_parsed_is_answered_not_raised(
    roots: dict[str, Deploy], origin: str
) -> None:
    # The URL's host comes from the client's Host header; a Host that urlsplit
    # rejects must neither raise out of the handler nor reach a page.
    h = isolate(roots, "fake")
    response = await h.request("/about", {"host": origin[8:]}, origin=origin)
    assert response.status == 404
    assert h.assets.log == [] or all(p.startswith("/__prerender/") for p in h.assets.log)
    assert len(h.handler.cache) == 0

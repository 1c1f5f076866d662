"""Renders whose answer may be stored see the canonical request: the site's origin,
no client header. A page that depends on the request says so and is rendered again
from the client's own request, for that client alone. Build and run time render for
the same origin (`SITE_ORIGIN`)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from seeding.asgi import AsgiSite
from seeding.build.prerender import build
from seeding.build.site_loader import SiteLoadError, site_origin
from seeding.flow.handler import Bindings, SiteHandler
from seeding.http import Request as PlainRequest
from seeding.primitives.cache import MemoryCache
from seeding.rendering import RenderRequest
from seeding.routes import Variant
from tests.unit.fakes import FakeAssets, FakeClock, FakeSite, WaitUntil

ORIGIN = "https://site.example"
EVIL = "evil.example"
# Workers Cache "Cache keys" docs, then PortSwigger's unkeyed headers (Param Miner).
POISONING = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-forwarded-host",
    "x-host",
    "x-forwarded-scheme",
    "x-original-url",
    "x-rewrite-url",
    "forwarded",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-for",
    "x-forwarded-server",
    "x-forwarded-prefix",
    "x-original-host",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-wap-profile",
    "origin",
    "via",
]
# Credentials (`Authorization`, a session cookie) never reach the cache at all.
CLIENT_ONLY = ["host", "cookie", "accept-encoding", "accept-language", "user-agent"]


def handler(site, origin: str | None = ORIGIN) -> SiteHandler:  # type: ignore[no-untyped-def]
    return SiteHandler(site, MemoryCache(1 << 20), FakeClock(), None, origin=origin)


async def get(h: SiteHandler, path: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    request = PlainRequest("GET", f"https://{EVIL}{path}", headers)
    return await h.handle(request, Bindings(FakeAssets(Path("/nonexistent")), WaitUntil()))


@pytest.mark.parametrize("name", POISONING + CLIENT_ONLY)
async def test_a_render_that_may_be_stored_sees_no_client_header(name: str) -> None:
    site = FakeSite()
    h = handler(site)
    response = await get(h, "/blog/late", {name: EVIL})
    assert response.headers["x-cache-status"] == "MISS"
    (request,) = site.requests  # one render: the canonical one, stored
    assert dict(request.headers) == {} and request.origin == ORIGIN
    assert request.method == "GET" and request.query == "" and request.body == b""


@pytest.mark.parametrize("name", POISONING + CLIENT_ONLY)
async def test_a_dynamic_page_is_rendered_again_from_the_clients_own_request(name: str) -> None:
    site = FakeSite()
    h = handler(site)
    response = await get(h, "/now", {name: EVIL})
    assert response.headers["cache-control"].startswith("private")
    canonical, own = site.requests
    assert dict(canonical.headers) == {}
    assert own.headers.get(name) == EVIL  # the client's render saw it
    await get(h, "/now", {name: EVIL})
    assert len(site.requests) == 3  # then once per request while the route is dynamic


def starlette_site(*, gzip_min: int | None = None) -> AsgiSite:
    async def page(request: Request) -> HTMLResponse:
        text = f"<a href='{request.url_for('page')}'>me</a> {request.base_url} " + "x" * 600
        return HTMLResponse(text, headers={"cache-control": "s-maxage=60"})

    middleware = [Middleware(GZipMiddleware, minimum_size=gzip_min)] if gzip_min else []
    return AsgiSite(Starlette(routes=[Route("/", page, name="page")], middleware=middleware))


async def test_starlette_urls_in_a_stored_page_use_the_configured_origin() -> None:
    h = handler(starlette_site())
    first = await get(h, "/", {"host": EVIL, "x-forwarded-host": EVIL})
    assert first.headers["x-cache-status"] == "MISS"
    assert f"{ORIGIN}/" in first.body.decode() and EVIL not in first.body.decode()
    assert (await get(h, "/", {})).body == first.body


async def test_an_app_behind_gzip_middleware_stores_its_identity_page_for_every_client() -> None:
    # GZipMiddleware sends `Vary: Accept-Encoding`; the canonical render has no
    # Accept-Encoding, so the stored page is the identity body any client accepts.
    h = handler(starlette_site(gzip_min=100))
    first = await get(h, "/", {"accept-encoding": "gzip"})
    second = await get(h, "/", {"accept-encoding": "gzip, br"})
    plain = await get(h, "/", {})
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == plain.headers["x-cache-status"] == "HIT"
    for answer in (first, second, plain):
        assert "content-encoding" not in answer.headers
        assert not answer.body.startswith(b"\x1f\x8b") and answer.body == plain.body
    assert len(h.cache) == 1


async def test_a_compressed_answer_is_never_stored() -> None:
    class Zipping(FakeSite):
        async def render(self, request: RenderRequest):  # type: ignore[no-untyped-def]
            result = await super().render(request)
            return type(result)(
                result.status,
                {**result.headers, "content-encoding": "gzip"},
                gzip.compress(result.body),
                revalidate=result.revalidate,
            )

    site = Zipping()
    h = handler(site)
    for _ in range(2):
        response = await get(h, "/blog/late", {"accept-encoding": "gzip"})
        assert response.headers["x-cache-status"] == "MISS"
    assert len(h.cache) == 0


async def test_without_a_configured_origin_the_renderer_keeps_its_own() -> None:
    h = handler(starlette_site(), origin=None)
    response = await get(h, "/", {"host": EVIL})
    assert "http://localhost/" in response.body.decode() and EVIL not in response.body.decode()


async def test_the_build_renders_for_the_same_origin_as_the_worker(tmp_path: Path) -> None:
    site = FakeSite()
    await build(site, tmp_path / "out", clock=FakeClock(), say=lambda _: None, origin=ORIGIN)
    assert site.requests and {r.origin for r in site.requests} == {ORIGIN}
    assert all(dict(r.headers) == {} for r in site.requests)
    h = handler(FakeSite())
    await get(h, "/about", {})
    assert h.renderer.requests[0].origin == ORIGIN  # type: ignore[attr-defined]


def test_the_build_reads_site_origin_from_wrangler_toml(tmp_path: Path) -> None:
    config = tmp_path / "wrangler.toml"
    assert site_origin(config) is None  # no file
    config.write_text('main = "src/entry.py"\n[vars]\nSITE_ORIGIN = "https://Blog.Example/"\n')
    assert site_origin(config) == "https://blog.example"
    config.write_text('main = "src/entry.py"\n[vars]\nOTHER = "1"\n')
    assert site_origin(config) is None
    config.write_text('[vars]\nSITE_ORIGIN = "blog.example"\n')
    with pytest.raises(SiteLoadError, match=r"SITE_ORIGIN.*https://example\.com"):
        site_origin(config)


def test_variants_other_than_html_see_the_same_canonical_request() -> None:
    # The data variant of a route is rendered from the same request as its HTML.
    from seeding.flow.canonical import canonical_request

    html = canonical_request("/a", Variant.HTML, 1.0, origin=ORIGIN, env=None)
    data = canonical_request("/a", Variant.DATA, 1.0, origin=ORIGIN, env=None)
    assert (html.headers, html.origin, html.query) == (data.headers, data.origin, data.query)

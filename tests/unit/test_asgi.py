"""The ASGI adapter under CPython: a Starlette and a FastAPI app as sites, prerendered by
the real build steps and served through the handler, with their cache metadata taken
from their own answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from seeding.asgi import AsgiSite
from seeding.build.prerender import CrawlLimits, ExitCode, write_build
from seeding.config import SiteConfig
from seeding.rendering import RenderMode, RenderRequest, SiteStartupError
from seeding.routes import Variant
from seeding.schema import RouteStatus
from tests.unit.fakes import FakeClock
from tests.unit.support import Isolate, copy, quiet

ISR = "public, s-maxage=60, stale-while-revalidate=3600"


class Counter:
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def hit(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]


def starlette_app(counter: Counter, events: list[str] | None = None) -> Starlette:
    """A small site: static pages, ISR pages with tags, a dynamic page, a streamed page,
    a sync endpoint, and what the scope carried."""

    def home(request: Request) -> Response:  # sync on purpose: run in a thread
        n = counter.hit("home")
        return Response(
            f'<h1>home {n}</h1><a href="/posts/a">a</a> <a href="/linked">l</a>',
            media_type="text/html",
        )

    async def post(request: Request) -> Response:
        slug = request.path_params["slug"]
        n = counter.hit(slug)
        headers = {"cache-control": ISR, "cache-tag": f"posts, post:{slug}"}
        return Response(f"<h1>post {slug} {n}</h1>", headers=headers, media_type="text/html")

    async def linked(request: Request) -> Response:
        counter.hit("linked")
        return Response('<a href="/deeper">d</a>', media_type="text/html")

    async def deeper(request: Request) -> Response:
        return Response("deepest", media_type="text/html")

    async def now(request: Request) -> Response:
        counter.hit("now")
        return PlainTextResponse(
            f"q={request.query_params.get('q', '')}", headers={"cache-control": "no-store"}
        )

    async def scope_echo(request: Request) -> JSONResponse:
        env = request.scope.get("env")
        return JSONResponse(
            {
                "path": request.url.path,
                "root_path": request.scope["root_path"],
                "query": request.url.query,
                "method": request.method,
                "body": (await request.body()).decode(),
                "host": request.headers.get("host"),
                "lang": request.headers.get("accept-language"),
                "env": getattr(env, "NAME", None),
                "state": getattr(request.state, "started", None),
            },
            headers={"cache-control": "no-store"},
        )

    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(5):
                await asyncio.sleep(0)
                yield f"chunk{n};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if events is not None:
            events.append("startup")
        yield {"started": True}
        if events is not None:
            events.append("shutdown")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/posts/{slug}", post),
            Route("/linked", linked),
            Route("/deeper", deeper),
            Route("/now", now),
            Route("/scope", scope_echo, methods=["GET", "POST"]),
            Route("/stream", stream),
        ],
        lifespan=lifespan,
    )


def render(site: AsgiSite, route: str, **kw: Any) -> Any:
    return asyncio.run(site.render(RenderRequest(route=route, variant=Variant.HTML, now=1.0, **kw)))


async def test_the_app_declares_its_prerender_routes_as_a_list_or_a_callable() -> None:
    app = starlette_app(Counter())
    listed = await AsgiSite(app, prerender=["/", "/posts/a/"]).site_routes()
    assert [(r.path, r.mode) for r in listed] == [
        ("/", RenderMode.PRERENDER),
        ("/posts/a", RenderMode.PRERENDER),
    ]

    async def generate() -> list[str]:
        return [f"/posts/{slug}" for slug in "xyz"]

    called = await AsgiSite(app, prerender=generate).site_routes()
    assert [r.path for r in called] == ["/posts/x", "/posts/y", "/posts/z"]
    with pytest.raises(ValueError, match="not a route of this site"):
        await AsgiSite(app, prerender=["relative"]).site_routes()


@pytest.mark.parametrize(
    ("route", "revalidate", "expire", "dynamic", "tags"),
    [
        ("/", None, None, False, ()),
        ("/posts/a", 60, 3660, False, ("posts", "post:a")),
        ("/now", None, None, True, ()),
    ],
)
def test_cache_metadata_comes_from_the_apps_own_answer(
    route: str, revalidate: int | None, expire: int | None, dynamic: bool, tags: tuple[str, ...]
) -> None:
    result = render(AsgiSite(starlette_app(Counter())), route)
    assert result.status == 200
    assert (result.revalidate, result.expire, result.dynamic, result.tags) == (
        revalidate,
        expire,
        dynamic,
        tags,
    )
    assert "cache-tag" not in result.headers  # not sent on to clients


def test_the_sites_default_applies_when_the_app_says_nothing() -> None:
    app = starlette_app(Counter())
    assert render(AsgiSite(app, default_cache_control="s-maxage=30"), "/").revalidate == 30
    assert render(AsgiSite(app, default_cache_control="no-store"), "/").dynamic
    # The app's own lifetime wins over the default.
    assert render(AsgiSite(app, default_cache_control="no-store"), "/posts/a").revalidate == 60


def test_a_streamed_body_is_collected_whole() -> None:
    result = render(AsgiSite(starlette_app(Counter())), "/stream")
    assert result.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"
    assert "content-length" not in result.headers and "transfer-encoding" not in result.headers


def test_a_request_render_carries_method_body_query_headers_and_env() -> None:
    class Env:
        NAME = "worker-env"

    result = render(
        AsgiSite(starlette_app(Counter()), config=SiteConfig(base_path="/docs")),
        "/scope",
        method="POST",
        body=b"a=1",
        query="q=search",
        headers={"accept-language": "fr", "host": "example.com"},
        env=Env(),
    )
    import json

    seen = json.loads(result.body)
    assert seen == {
        "path": "/docs/scope",
        "root_path": "/docs",
        "query": "q=search",
        "method": "POST",
        "body": "a=1",
        "host": "example.com",
        "lang": "fr",
        "env": "worker-env",
        "state": True,
    }


def test_a_render_with_no_request_gets_the_origins_host() -> None:
    import json

    site = AsgiSite(starlette_app(Counter()), origin="https://blog.example")
    seen = json.loads(render(site, "/scope").body)
    assert seen["host"] == "blog.example" and seen["env"] is None


@pytest.mark.parametrize(
    ("headers", "dynamic"),
    [
        ({"set-cookie": "a=1"}, True),
        ({"vary": "Accept-Language"}, True),
        ({"vary": "accept-encoding"}, False),
        ({"cache-control": "private, max-age=60"}, True),
        ({"cache-control": "no-cache"}, True),
        ({"cache-control": "s-maxage=0"}, True),
        ({"cache-control": "max-age=30"}, False),
    ],
)
def test_answers_that_may_differ_per_client_are_dynamic(
    headers: dict[str, str], dynamic: bool
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    assert render(AsgiSite(app), "/").dynamic is dynamic


def test_lifespan_startup_runs_once_before_the_first_render() -> None:
    events: list[str] = []
    site = AsgiSite(starlette_app(Counter(), events))

    async def run() -> None:
        await asyncio.gather(
            *(site.render(RenderRequest("/", Variant.HTML, 1.0)) for _ in range(5))
        )
        assert events == ["startup"]
        await site.aclose()
        assert events == ["startup", "shutdown"]

    asyncio.run(run())


def test_a_failing_startup_is_a_clear_error_and_is_not_retried_at_once() -> None:
    attempts = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        attempts.append(1)
        raise RuntimeError("database unreachable")
        yield  # pragma: no cover

    site = AsgiSite(Starlette(lifespan=lifespan), startup_retry=60)

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(SiteStartupError, match="database unreachable"):
                await site.render(RenderRequest("/", Variant.HTML, 1.0))

    asyncio.run(run())
    assert attempts == [1]


def test_a_startup_that_hangs_times_out_instead_of_hanging() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.sleep(3600)
        yield  # pragma: no cover

    site = AsgiSite(Starlette(lifespan=lifespan), startup_timeout=0.05)
    with pytest.raises(SiteStartupError, match=r"did not finish within 0\.05 s"):
        render(site, "/")


def test_an_app_without_lifespan_support_is_served() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise ValueError("unsupported scope")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})

    assert render(AsgiSite(app), "/").body == b"plain"


async def test_a_failing_startup_stops_the_build_with_its_reason(tmp_path: Path, capsys) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    site = AsgiSite(Starlette(lifespan=lifespan), prerender=["/"])
    assert await write_build(site, tmp_path / "build", say=quiet) == ExitCode.SITE_FAILED
    assert "the site failed to start" in capsys.readouterr().err
    assert not (tmp_path / "build").exists()


async def test_the_build_records_non_200_and_dynamic_routes_with_their_reasons(
    tmp_path: Path, capsys
) -> None:
    site = AsgiSite(starlette_app(Counter()), prerender=["/", "/missing", "/now"])
    assert await write_build(site, tmp_path / "build", say=quiet) == ExitCode.ROUTE_FAILED
    from tests.unit.test_build_scripts import manifest_of

    routes = manifest_of(tmp_path / "build").routes
    assert routes["/"].status is RouteStatus.RENDERED
    assert routes["/missing"].status is RouteStatus.ERROR
    assert "HTTP 404" in routes["/missing"].reason
    assert routes["/now"].status is RouteStatus.SKIPPED and "dynamic" in routes["/now"].reason
    assert "failed routes: /missing" in capsys.readouterr().err


async def test_a_body_over_the_asset_limit_is_an_error(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(26):
            await send(
                {"type": "http.response.body", "body": b"x" * 1024 * 1024, "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})

    site = AsgiSite(app, prerender=["/big"])
    assert await write_build(site, tmp_path / "build", say=quiet) == ExitCode.ROUTE_FAILED
    from tests.unit.test_build_scripts import manifest_of

    assert "over the 25 MiB asset limit" in manifest_of(tmp_path / "build").routes["/big"].reason


async def test_the_build_follows_same_origin_links_within_its_bounds(tmp_path: Path) -> None:
    from tests.unit.test_build_scripts import manifest_of

    site = AsgiSite(starlette_app(Counter()), prerender=["/"])
    await write_build(site, tmp_path / "one", say=quiet, crawl=CrawlLimits(depth=1))
    assert set(manifest_of(tmp_path / "one").routes) == {"/", "/posts/a", "/linked"}
    await write_build(site, tmp_path / "two", say=quiet, crawl=CrawlLimits(depth=2))
    assert set(manifest_of(tmp_path / "two").routes) == {"/", "/posts/a", "/linked", "/deeper"}
    await write_build(site, tmp_path / "few", say=quiet, crawl=CrawlLimits(depth=5, max_routes=2))
    assert len(manifest_of(tmp_path / "few").routes) == 2


async def test_a_starlette_site_is_seeded_regenerated_and_never_caches_dynamic_pages(
    tmp_path: Path,
) -> None:
    counter = Counter()
    clock = FakeClock()
    site = AsgiSite(starlette_app(counter), prerender=["/", "/posts/a"])
    build = tmp_path / "build"
    assert await write_build(site, build, clock=clock, say=quiet) == ExitCode.OK
    deploy = copy(build, tmp_path / "public")
    assert counter.calls == {"home": 1, "a": 1}  # the build's renders
    isolate = Isolate(deploy, site, clock)

    home = await isolate.request("/")
    assert home.headers["x-cache-status"] == "HIT" and b"home 1" in home.body
    assert counter.calls == {"home": 1, "a": 1}  # seeded: no render
    assert len(isolate.assets.log) == 1

    clock.advance(61)
    stale = await isolate.request("/posts/a", drain=False)
    assert stale.headers["x-cache-status"] == "STALE" and b"post a 1" in stale.body
    await isolate.wait_until.drain()
    fresh = await isolate.request("/posts/a")
    assert fresh.headers["x-cache-status"] == "HIT" and b"post a 2" in fresh.body
    assert fresh.headers["cache-control"] == "s-maxage=60, stale-while-revalidate=3600"

    on_demand = await isolate.request("/posts/b")
    assert on_demand.headers["x-cache-status"] == "MISS"
    assert (await isolate.request("/posts/b")).headers["x-cache-status"] == "HIT"

    for n in (1, 2):
        now = await isolate.request(f"/now?q={n}")
        assert now.headers["x-cache-status"] == "MISS" and now.body == f"q={n}".encode()
    assert counter.calls["now"] == 2

    missing = await isolate.request("/nowhere")
    assert missing.status == 404 and missing.headers["x-cache-status"] == "MISS"


class Item(BaseModel):
    name: str
    price: float


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:  # a sync endpoint, run through anyio.to_thread
        return "<h1>items</h1>"

    @app.get("/items/{item_id}")
    async def item(item_id: int, response: Any = None) -> Item:
        return Item(name=f"item {item_id}", price=item_id * 1.5)

    @app.middleware("http")
    async def cache_headers(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        if request.url.path.startswith("/items/"):
            response.headers["cache-control"] = "s-maxage=120, stale-while-revalidate=60"
            response.headers["cache-tag"] = "items"
        return response

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    return app


async def test_a_fastapi_app_is_prerendered_rendered_and_gives_its_metadata(
    tmp_path: Path,
) -> None:
    site = AsgiSite(fastapi_app(), prerender=["/", "/items/1"])
    build = tmp_path / "build"
    assert await write_build(site, build, clock=FakeClock(), say=quiet) == ExitCode.OK
    from tests.unit.test_build_scripts import manifest_of

    routes = manifest_of(build).routes
    assert routes["/items/1"].revalidate == 120 and routes["/items/1"].expire == 180
    assert routes["/items/1"].tags == ("items",)
    isolate = Isolate(copy(build, tmp_path / "public"), site)
    seeded = await isolate.request("/items/1")
    assert seeded.headers["x-cache-status"] == "HIT"
    assert seeded.body == b'{"name":"item 1","price":1.5}'
    rendered = await isolate.request("/items/7")
    assert rendered.headers["x-cache-status"] == "MISS" and b'"price":10.5' in rendered.body
    created = await isolate.request(
        "/items",
        method="POST",
        body=b'{"name": "new", "price": 2}',
        headers={"content-type": "application/json"},
    )
    assert created.status == 200 and b'"name":"new"' in created.body
    invalid = await isolate.request(
        "/items", method="POST", body=b'{"name": 1}', headers={"content-type": "application/json"}
    )
    assert invalid.status == 422  # pydantic validation
    assert (await isolate.request("/")).body == b"<h1>items</h1>"


async def test_a_failing_startup_is_a_logged_500_at_run_time_not_a_hang(caplog) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    isolate = Isolate(None, AsgiSite(Starlette(lifespan=lifespan), startup_retry=60))
    for _ in range(2):
        response = await asyncio.wait_for(isolate.request("/anything"), 5)
        assert response.status == 500
        assert response.headers["cache-control"].startswith("private")
    assert "no database" in caplog.text

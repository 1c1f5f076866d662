"""A Starlette app with a sync endpoint (run through anyio.to_thread.run_sync, which the SDK's
patch makes run inline: Pyodide has no threads) and an async one."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def sync_endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"sync endpoint answered {request.url.path}")


async def async_endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"async endpoint answered {request.url.path}")


app = Starlette(
    routes=[Route("/starlette/sync", sync_endpoint), Route("/starlette/async", async_endpoint)]
)

"""A tiny Python Worker that exercises the local runtime itself, not the site.

tests/worker/conftest.py serves it with the project's own wrangler.toml (copied next to it), so
it runs under exactly the settings of the real Worker.
"""

import asyncio
import json
from urllib.parse import parse_qs, urlparse

from probe_pkg.state import STATE  # a package under src/, imported as `probe_pkg`
from workers import Response, WorkerEntrypoint

ASSETS_ORIGIN = "https://assets.invalid"


async def _background(tag: str, delay: float) -> None:
    await asyncio.sleep(delay)
    STATE["background"].append(tag)


async def _failing_background() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("probe background failure")


async def _fetch_asset(env, path: str) -> dict:
    try:
        response = await env.ASSETS.fetch(ASSETS_ORIGIN + path)
    except Exception as exc:
        return {"raised": type(exc).__name__, "message": str(exc)}
    body = await response.text()
    return {"status": int(response.status), "body": body}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        STATE["requests"] += 1
        url = urlparse(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path == "/count":
            return Response.json({"requests": STATE["requests"]})
        if path == "/env":
            binding = self.env.ASSETS
            names = json.loads(query.get("vars", "[]"))
            return Response.json(
                {
                    "assets_wrapper": type(binding).__name__,
                    "assets_js_class": binding._binding.constructor.name,
                    "vars": {name: getattr(self.env, name, None) for name in names},
                }
            )
        if path == "/asset":
            return Response.json(await _fetch_asset(self.env, query["path"]))
        if path == "/wait-until":
            self.ctx.waitUntil(_background(query.get("tag", "done"), 0.05))
            return Response("scheduled")
        if path == "/wait-until-fail":
            self.ctx.waitUntil(_failing_background())
            return Response("scheduled a failing task")
        if path == "/background":
            return Response.json(STATE["background"])
        if path == "/raise":
            raise ValueError("probe exception")
        if path == "/print":
            print("probe says hello")
            return Response("printed")
        return Response(f"probe {path}", headers={"x-probe": "1"})

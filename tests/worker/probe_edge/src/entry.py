"""A tiny Python Worker behind the local runtime's edge (tests/worker/test_edge_runtime.py).

Any GET answers `n=<times Python answered this path> path=<path+query> isolate-var=<ISOLATE>`
with headers the query chooses, so each behaviour of the edge is shown over HTTP:
  h=<name>:<value>  a response header (repeatable)
  status=<code>     the status
  etag=<value>      an ETag; a request whose If-None-Match matches is answered 304
  echo=<name>       the request header <name> is part of the body (for Vary)
  sleep=<seconds>   Python waits that long first (for request collapsing)
/cache-op (POST, JSON {op, options}) calls self.ctx.cache.<op>(options) and answers its result;
/cache-op-dict does the same with a Python dict (refused: the platform reads JS objects);
/ctx answers whether ctx.cache and the runtime's edge binding are visible to Python;
/conditionals answers the If-None-Match headers Python received, oldest first;
FAIL_WITH (set through the control API's eval) makes every page answer that status.
"""

import asyncio
import json
from urllib.parse import parse_qs, urlparse

from js import Object
from pyodide.ffi import to_js
from workers import Response, WorkerEntrypoint

COUNTS: dict[str, int] = {}
CONDITIONALS: list[str] = []
# Set through the control API's eval (`import entry; entry.FAIL_WITH = 500`): every page then
# answers that status, as a Worker in trouble.
FAIL_WITH: int | None = None


def _js_result(result) -> dict:
    return {
        "success": bool(result.success),
        "errors": [{"code": e.code, "message": e.message} for e in result.errors],
    }


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        query = parse_qs(url.query)
        if url.path == "/cache-op":
            body = json.loads(await request.text())
            method = getattr(self.ctx.cache, body["op"])
            try:
                result = await method(to_js(body["options"], dict_converter=Object.fromEntries))
            except Exception as exc:  # the promise rejected
                return Response.json({"raised": str(exc)})
            return Response.json(_js_result(result))
        if url.path == "/cache-op-dict":
            try:
                await self.ctx.cache.purge({"tags": ["x"]})
            except Exception as exc:
                return Response.json({"raised": str(exc)})
            return Response.json({"raised": None})
        if url.path == "/ctx":
            cache = getattr(self.ctx, "cache", None)
            return Response.json(
                {
                    "ctx_cache": cache is not None and str(cache) != "undefined",
                    "edge_binding_in_env": hasattr(self.env, "__LOCAL_RUNTIME_EDGE_CACHE"),
                },
                headers={"cache-control": "no-store"},
            )
        if url.path == "/conditionals":
            return Response.json(CONDITIONALS, headers={"cache-control": "no-store"})
        if FAIL_WITH is not None:
            return Response("failing on purpose", status=FAIL_WITH)
        if "sleep" in query:
            await asyncio.sleep(float(query["sleep"][0]))
        etag = query.get("etag", [None])[0]
        inm = request.headers.get("if-none-match")
        if inm:
            CONDITIONALS.append(f"{target} {inm}")
        headers = {}
        for item in query.get("h", []):
            name, _, value = item.partition(":")
            headers[name] = value
        if etag:
            headers["etag"] = etag
            if inm == etag:
                return Response(None, status=304, headers=headers)
        COUNTS[target] = COUNTS.get(target, 0) + 1
        body = f"n={COUNTS[target]} path={target}"
        for name in query.get("echo", []):
            body += f" {name}={request.headers.get(name)}"
        status = int(query.get("status", ["200"])[0])
        return Response(body, status=status, headers=headers)

"""A tiny Python Worker that reads and writes KV and D1 (and reads ASSETS) through the
workers SDK, so the tests can watch the local runtime's bindings: shared storage across
isolates, persistence, the binding log and faults. Each route answers JSON; a binding error
answers {"raised": <class>, "message": <text>} with status 500.
"""

from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint

# Module state: one per isolate.
REQUESTS = {"count": 0}

# Take the lease on `k` for `holder` unless another holder's lease is still valid: D1 reports
# meta.changes 1 when the row was written, 0 when the WHERE kept the other holder's row.
LEASE_SQL = (
    "INSERT INTO leases (k, holder, until_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(k) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms "
    "WHERE leases.until_ms < ?4 OR leases.holder = excluded.holder"
)


async def kv_put(env, q):
    await env.KV.put(q["key"], q["value"], expirationTtl=3600, metadata={"by": "probe"})
    return {"ok": True}


async def kv_get(env, q):
    return {"value": await env.KV.get(q["key"])}


async def kv_get_json(env, q):
    return {"value": await env.KV.get(q["key"], "json")}


async def note_add(env, q):
    result = await env.DB.prepare("INSERT INTO notes (body) VALUES (?)").bind(q["body"]).run()
    return {"changes": result.meta.changes}


async def note_list(env, q):
    result = await env.DB.prepare("SELECT body FROM notes ORDER BY id").all()
    return {"bodies": [row["body"] for row in result.results]}


async def note_count(env, q):
    row = await env.DB.prepare("SELECT COUNT(*) AS n FROM notes").first()
    return {"count": row["n"]}


async def lease(env, q):
    now = int(q["now"])
    statement = env.DB.prepare(LEASE_SQL).bind(q["key"], q["holder"], now + int(q["ttl"]), now)
    result = await statement.run()
    return {"changes": result.meta.changes}


async def batch(env, q):
    insert = env.DB.prepare("INSERT INTO notes (body) VALUES (?)")
    results = await env.DB.batch([insert.bind(q["a"]), insert.bind(q["b"])])
    return {"changes": [r.meta.changes for r in results]}


async def asset(env, q):
    response = await env.ASSETS.fetch("https://assets.invalid" + q["path"])
    return {"status": int(response.status), "body": await response.text()}


async def count(env, q):
    return {"requests": REQUESTS["count"]}


async def wrappers(env, q):
    # What the SDK made of the bindings (by their JS class names).
    return {
        "kv": [type(env.KV).__name__, env.KV._binding.constructor.name],
        "db": [type(env.DB).__name__, env.DB._binding.constructor.name],
        "var": env.PROBE_NAME,
    }


ROUTES = {
    "/kv/put": kv_put,
    "/kv/get": kv_get,
    "/kv/get-json": kv_get_json,
    "/notes/add": note_add,
    "/notes/list": note_list,
    "/notes/count": note_count,
    "/lease": lease,
    "/batch": batch,
    "/asset": asset,
    "/count": count,
    "/wrappers": wrappers,
}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        REQUESTS["count"] += 1
        url = urlparse(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = ROUTES.get(url.path)
        if route is None:
            return Response.json({"error": f"no route {url.path}"}, status=404)
        try:
            body = await route(self.env, query)
        except Exception as exc:
            return Response.json({"raised": type(exc).__name__, "message": str(exc)}, status=500)
        return Response.json(body)

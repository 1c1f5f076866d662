"""A Python Worker made of third-party packages, loaded the way production loads them: the SDK's
package patches (through the runtime's `_cloudflare`), compiled extension modules (pydantic-core),
MarkupSafe's pure-Python fallback and a local path dependency. Served by
tests/worker/test_runtime_packages.py with this repository's wrangler.toml.
"""

from urllib.parse import parse_qs, urlparse

import import_patches  # first: registers the patches the next import is made under
import patched_module
import probe_local_lib
from fastapi_app import app as fastapi_app
from outbound import fetch_report, pyodide_http_report, requests_report
from starlette_app import app as starlette_app
from templates import greeting_page
from workers import Response, WorkerEntrypoint, asgi

# At top level, as in production before the snapshot: the blocked call raises here.
import_patches.record_top_level_calls(patched_module)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/starlette/"):
            return await asgi.fetch(starlette_app, request, self.env)
        if url.path.startswith("/fastapi/"):
            return await asgi.fetch(fastapi_app, request, self.env)
        if url.path == "/jinja":
            page, escape_module = greeting_page(query.get("name", ""))
            return Response(page, headers={"x-escape-module": escape_module})
        if url.path == "/local-lib":
            return Response(probe_local_lib.GREETING)
        if url.path == "/import-patches":
            return Response.json(import_patches.report_in_request(patched_module))
        if url.path == "/pyodide-http":
            return Response.json(pyodide_http_report())
        if url.path == "/fetch":
            return Response.json(await fetch_report(query["url"]))
        if url.path == "/requests":
            return Response.json(requests_report(query["url"]))
        return Response("not found", status=404)

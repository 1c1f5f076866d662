"""The baseline Worker of benchmark c: serves a build laid out as one manifest plus a
file per route (`manifest_reader.ManifestReader`), from a memory cache per isolate.
Copied into a temporary project as its entry.py, next to manifest_reader.py."""

from urllib.parse import urlsplit

from manifest_reader import ManifestReader
from workers import Response, WorkerEntrypoint

READER = ManifestReader()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        assets = self.env.ASSETS

        async def fetch_asset(path):
            response = await assets.fetch("https://assets.invalid" + path)
            status = int(response.status)
            return status, (await response.bytes() if status == 200 else b"")

        page = await READER.page(fetch_asset, urlsplit(str(request.url)).path)
        if page is None:
            return Response("Not Found", status=404)
        body, headers = page
        return Response(body, headers={**headers, "x-cache-status": "HIT"})

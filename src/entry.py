"""Worker entry point (placeholder until the seeding core is wired)."""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("hello from the Python Worker")

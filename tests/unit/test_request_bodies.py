"""Request bodies in the request flow: read only when a render or the revalidation
endpoint needs them, and never past their limit."""

from __future__ import annotations

from seeding.flow.handler import Bindings, SiteHandler
from seeding.front import Front, Revalidation
from seeding.http import MAX_REQUEST_BODY_BYTES, BodyTooLarge, Request
from seeding.primitives.cache import MemoryCache
from tests.unit.fakes import FakeClock, FakeSite
from tests.unit.support import WaitUntil

SECRET = "s3cret-for-tests-0"


class StreamedBody:
    """A body the client streams: `size` bytes, read up to the reader's limit."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.limits: list[int] = []

    async def __call__(self, limit: int) -> bytes:
        self.limits.append(limit)
        if self.size > limit:
            raise BodyTooLarge(limit)
        return b"x" * self.size


def handler(site: FakeSite) -> Front:
    """The front door (the revalidation endpoint) over the page flow, as in the Worker."""
    return Front(SiteHandler(site, MemoryCache(1 << 20), FakeClock()), Revalidation("/__r", SECRET))


async def answer(site: FakeSite, request: Request):
    return await handler(site).handle(request, Bindings(None, WaitUntil()))  # type: ignore[arg-type]


async def test_a_post_over_the_render_limit_is_answered_413_without_rendering() -> None:
    site, body = FakeSite(), StreamedBody(MAX_REQUEST_BODY_BYTES + 1)
    response = await answer(site, Request("POST", "https://a.example/about", reader=body))
    assert response.status == 413 and site.renders == []
    assert body.limits == [MAX_REQUEST_BODY_BYTES]


async def test_a_post_within_the_limit_reaches_the_renderer_with_its_body() -> None:
    site, body = FakeSite(), StreamedBody(10)
    response = await answer(site, Request("POST", "https://a.example/about", reader=body))
    assert response.status == 200 and site.requests[-1].body == b"x" * 10


async def test_a_get_never_reads_a_body() -> None:
    site, body = FakeSite(), StreamedBody(10)
    await answer(site, Request("GET", "https://a.example/about", reader=body))
    assert body.limits == []


async def test_the_revalidation_endpoint_refuses_a_wrong_secret_without_reading_the_body() -> None:
    site, body = FakeSite(), StreamedBody(10 * 1024 * 1024)
    request = Request("POST", "https://a.example/__r", {"authorization": "Bearer no"}, reader=body)
    response = await answer(site, request)
    assert response.status == 401 and body.limits == []

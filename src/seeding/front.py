"""The Worker's front door: a request is either for the on-demand revalidation
endpoint (`REVALIDATE_PATH`) or for a page (`seeding.flow.handler.SiteHandler`), and
whatever happens below, the client gets an answer: an exception is logged and
answered with the project's own 500 (`seeding.flow.answers.guarded`), never the
platform's.

The endpoint checks the request (`seeding.revalidation.handle_revalidation`: secret,
body, paths and tags) and then applies it (`apply_revalidation`, one small step: the
revalidation times in D1); what the page flow sees of it is only the times it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from seeding.flow import answers
from seeding.flow.handler import Bindings, SiteHandler
from seeding.flow.policy import DYNAMIC_CACHE_CONTROL
from seeding.http import Request, Response
from seeding.revalidation import RevalidationRequest, handle_revalidation
from seeding.shared.tag_clock import TagClock

log = logging.getLogger("seeding")


@dataclass(frozen=True)
class Revalidation:
    """The on-demand revalidation endpoint: its URL path and its secret (None: the
    endpoint answers 404, disabled)."""

    path: str
    secret: str | None


async def apply_revalidation(
    tags: TagClock | None, wanted: RevalidationRequest, now: float
) -> bool:
    """Record a checked revalidation; False when it could not be (no D1, or D1 failed)."""
    if tags is None:
        log.error("seeding: on-demand revalidation needs the D1 binding; nothing done")
        return False
    return await tags.revalidate(wanted.paths, wanted.tags, wanted.mode, now)


class Front:
    def __init__(
        self,
        pages: SiteHandler,
        revalidation: Revalidation | None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.pages = pages
        self.revalidation = revalidation
        self.clock = clock or pages.clock

    async def handle(self, request: Request, bindings: Bindings) -> Response:
        return await answers.guarded(request, lambda: self._handle(request, bindings))

    async def _handle(self, request: Request, bindings: Bindings) -> Response:
        endpoint = self.revalidation
        if endpoint is not None and request.path == endpoint.path:
            return await self._revalidate(request, endpoint)
        return await self.pages.handle(request, bindings)

    async def _revalidate(self, request: Request, endpoint: Revalidation) -> Response:
        tags = self.pages.shared.tags

        async def apply(wanted: RevalidationRequest) -> bool:
            return await apply_revalidation(tags, wanted, self.clock())

        answer = await handle_revalidation(
            request.method.upper(),
            request.headers,
            request.read_body,
            endpoint.secret,
            apply,
            site=self.pages.config,
        )
        headers = {
            "content-type": "application/json",
            "cache-control": DYNAMIC_CACHE_CONTROL,
            **answer.headers,
        }
        return Response(answer.status, headers, answer.body)

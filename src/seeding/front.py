"""The Worker's front door: a request is either for the on-demand revalidation
endpoint (`REVALIDATE_PATH`) or for a page (`seeding.flow.handler.SiteHandler`), and
whatever happens below, the client gets an answer: an exception is logged and
answered with the project's own 500 (`seeding.flow.answers.guarded`), never the
platform's.

The endpoint checks the request (`seeding.revalidation.handle_revalidation`: secret,
body, paths and tags) and then applies it (`apply_revalidation`): first the revalidation
times in D1, the record; then, once D1 holds them and an edge is in front, the edge's
purge (`expire`) or invalidation (`stale`) with its retries (`seeding.edge.purge`). The
answer says what reached D1 and what reached the edge. What the page flow sees of it is
only the times it reads.

A new build takes over the edge through its `BuildSweep` (`seeding.edge.deploys`): the
first request of the isolate with an edge in front claims it in `waitUntil`, and the
endpoint's `{"deploy": true}`, the post-deploy step, awaits it (the one under way, or a
new one) and answers its outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from seeding.edge.deploys import BuildSweep, deploy_answer
from seeding.edge.purge import EdgeCache, EdgePurger, EdgeReport, WaitUntil, answer_with_edge
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


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class EdgeTarget:
    """The edge a revalidation must reach, and what its retries run on."""

    cache: EdgeCache
    wait_until: WaitUntil
    clock: Clock
    sleep: Sleep = asyncio.sleep

    def purger(self) -> EdgePurger:
        return EdgePurger(self.cache, self.wait_until, self.clock, self.sleep)


async def apply_revalidation(
    tags: TagClock | None,
    wanted: RevalidationRequest,
    now: float,
    edge: EdgeTarget | None = None,
) -> tuple[bool, EdgeReport | None]:
    """Record a checked revalidation in D1, then send it to the edge when one is in
    front. False when it could not be recorded (no D1, or D1 failed): the edge is then
    left alone, since D1 is the record. The report says what reached the edge (None:
    no edge, or nothing recorded)."""
    if tags is None:
        log.error("seeding: on-demand revalidation needs the D1 binding; nothing done")
        return False, None
    if not await tags.revalidate(wanted.paths, wanted.tags, wanted.mode, now):
        return False, None
    if edge is None:
        return True, None
    purger = edge.purger()
    # Sent again once every isolate's snapshot of the revalidation times has it.
    again = tags.max_age + 1.0
    report = await purger.revalidate(wanted.paths, wanted.tags, wanted.mode, again_after=again)
    return True, report


class Front:
    def __init__(
        self,
        pages: SiteHandler,
        revalidation: Revalidation | None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        sweep: BuildSweep | None = None,
    ) -> None:
        self.pages = pages
        self.revalidation = revalidation
        self.clock = clock or pages.clock
        self.sleep = sleep  # the pauses between the edge's retries
        self.sweep = sweep  # with D1 and a build: this build's, see seeding.edge.deploys

    async def handle(self, request: Request, bindings: Bindings) -> Response:
        return await answers.guarded(request, lambda: self._handle(request, bindings))

    async def _handle(self, request: Request, bindings: Bindings) -> Response:
        sweep = self.sweep
        if sweep is not None and sweep.pending:
            edge = self._edge(bindings)
            if edge is not None:
                job = sweep.claim(edge.purger())  # the isolate's first request with an edge
                if job is not None:
                    bindings.wait_until(job)
        endpoint = self.revalidation
        if endpoint is not None and request.path == endpoint.path:
            return await self._revalidate(request, endpoint, bindings)
        return await self.pages.handle(request, bindings)

    async def _revalidate(
        self, request: Request, endpoint: Revalidation, bindings: Bindings
    ) -> Response:
        tags = self.pages.shared.tags
        edge = self._edge(bindings)
        reports: list[EdgeReport | None] = []

        async def apply(wanted: RevalidationRequest) -> bool:
            recorded, report = await apply_revalidation(tags, wanted, self.clock(), edge)
            reports.append(report)
            return recorded

        answer = await handle_revalidation(
            request.method.upper(),
            request.headers,
            request.read_body,
            endpoint.secret,
            apply,
            site=self.pages.config,
            deploy=lambda: self._deploy(edge),
        )
        headers = {
            "content-type": "application/json",
            "cache-control": DYNAMIC_CACHE_CONTROL,
            **answer.headers,
        }
        body = answer.body
        if answer.status == 200 and not answer.deploy:  # what reached D1, and the edge
            body = answer_with_edge(body, reports[0] if reports else None)
        return Response(answer.status, headers, body)

    async def _deploy(self, edge: EdgeTarget | None) -> tuple[int, dict[str, Any]]:
        """This build takes over the edge: its sweep's outcome, as the endpoint's answer."""
        outcome = None
        if edge is not None and self.sweep is not None:
            outcome = await self.sweep.run(edge.purger())
        return deploy_answer(self.pages.build_id, outcome, edge=edge is not None)

    def _edge(self, bindings: Bindings) -> EdgeTarget | None:
        if bindings.edge is None:
            return None
        return EdgeTarget(bindings.edge, bindings.wait_until, self.clock, self.sleep)

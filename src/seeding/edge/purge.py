"""Revalidations that reach the edge: `ctx.cache.purge` and `ctx.cache.invalidate` from
Python, each retried with back-off when it fails.

`EdgePurger.revalidate(paths, tags, mode)` sends the edge what an on-demand revalidation
recorded in D1: `mode: expire` purges (the next request runs the Worker), `mode: stale`
invalidates (the edge keeps the body and asks the Worker with `If-None-Match`; an
unchanged page costs a `304`). The call is made again once every isolate's snapshot of
D1 has the revalidation (`again_after`), since until then an isolate may hand the edge
the old page as fresh (`seeding.edge.headers` keeps an answer from an out-of-date
snapshot from being stored as fresh). Paths become their path tags (`seeding.edge.tags`), not
`pathPrefixes`: a prefix purges every URL that starts with it (`/blog/a` takes
`/blog/about` along), while a path tag names the route's answers exactly, both variants
and any query. Tags and path tags go in calls of at most `MAX_TAGS_PER_CALL`.

Consistency: D1 is the record; the edge is told after D1 took the revalidation. The
first call is awaited (bounded by `timeout`) so the endpoint's answer can say whether the
edge was reached (`EdgeReport`). A call that fails (`success: false`, e.g. rate limited,
or a throw, or the timeout) is logged with its errors and retried in `wait_until` after
`Backoff` pauses (1, 2, 4, 8 s by default: within the 30 s `waitUntil` allows), then
given up with an error line. Pages the edge still holds then live until their edge
max-age (`seeding.edge.headers`: at most a day). Nothing here raises.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from seeding.edge.tags import edge_tag, path_tag
from seeding.primitives.backoff import Backoff
from seeding.shared.tag_clock import RevalidationMode

log = logging.getLogger("seeding")

MAX_TAGS_PER_CALL = 100
# `waitUntil` keeps a job alive for 30 s after the response: a follow-up waits at most this.
MAX_FOLLOW_UP_SECONDS = 25.0
PURGE = "purge"
INVALIDATE = "invalidate"

WaitUntil = Callable[[Awaitable[Any]], None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class PurgeResult:
    """What `ctx.cache.purge` / `invalidate` resolved to."""

    success: bool
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurgeOptions:
    tags: tuple[str, ...] = ()
    path_prefixes: tuple[str, ...] = ()
    purge_everything: bool = False


class EdgeCache(Protocol):
    """`ctx.cache` (`seeding.adapters.edge_cache` wraps the JS object); may raise."""

    async def purge(self, options: PurgeOptions) -> PurgeResult: ...

    async def invalidate(self, options: PurgeOptions) -> PurgeResult: ...


@dataclass(frozen=True)
class EdgeReport:
    """What reached the edge: `reached` once every call succeeded; otherwise `errors`
    says why, and `retrying` that calls go on in the background."""

    method: str
    tags: tuple[str, ...]
    reached: bool
    errors: tuple[str, ...] = ()
    retrying: bool = False
    purge_everything: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reached": self.reached, "method": self.method}
        if self.purge_everything:
            out["purgeEverything"] = True
        else:
            out["tags"] = list(self.tags)
        if self.errors:
            out["errors"] = list(self.errors)
        if not self.reached:
            out["retrying"] = self.retrying
        return out


@dataclass
class EdgePurger:
    """See the module docstring. One per request (it holds that request's `ctx.cache`
    and `wait_until`)."""

    cache: EdgeCache
    wait_until: WaitUntil
    clock: Callable[[], float]
    sleep: Sleep = asyncio.sleep
    attempts: int = 5
    first_pause: float = 1.0
    max_pause: float = 8.0
    timeout: float = 5.0

    async def revalidate(
        self,
        paths: Iterable[str],
        tags: Iterable[str],
        mode: RevalidationMode,
        *,
        again_after: float | None = None,
    ) -> EdgeReport:
        """Purge (expire) or invalidate (stale) the route keys `paths` and `tags`; with
        `again_after`, once more that many seconds later, in `wait_until`: an isolate
        whose snapshot of D1 had not yet taken the revalidation may have given the
        edge the old page again in between (pass the tag clock's `max_age` plus a
        margin: after it, every isolate knows; at most MAX_FOLLOW_UP_SECONDS, so a
        TAG_CACHE_SECONDS over 24 leaves a window the follow-up does not cover)."""
        names = tuple(dict.fromkeys([*(edge_tag(t) for t in tags), *(path_tag(p) for p in paths)]))
        method = PURGE if mode is RevalidationMode.EXPIRE else INVALIDATE
        report = await self.send(method, names)
        if again_after is not None and names:
            after = min(again_after, MAX_FOLLOW_UP_SECONDS)
            self.wait_until(self._again(method, names, after))
        return report

    async def _again(self, method: str, names: tuple[str, ...], after: float) -> None:
        await self.sleep(after)
        await self.send(method, names, wait=True)

    async def send(
        self, method: str, tags: Sequence[str], *, everything: bool = False, wait: bool = False
    ) -> EdgeReport:
        """Call `method` for edge `tags` (already encoded) or for everything. The retries
        run in `wait_until`, or, with `wait` (a caller already in the background), here:
        the report then tells the final outcome."""
        batches = (
            [PurgeOptions(purge_everything=True)]
            if everything
            else [
                PurgeOptions(tags=tuple(tags[i : i + MAX_TAGS_PER_CALL]))
                for i in range(0, len(tags), MAX_TAGS_PER_CALL)
            ]
        )
        failed: list[PurgeOptions] = []
        errors: list[str] = []
        for options in batches:
            problem = await self._call(method, options)
            if problem:
                failed.append(options)
                errors.extend(problem)
        reached = not failed
        if failed:
            log.warning(
                "seeding: edge %s not reached (%s); D1 holds the record; retrying",
                method,
                "; ".join(errors),
            )
            if wait:
                reached = await self._retry(method, failed)
            else:
                self.wait_until(self._retry(method, failed))
        retrying = not reached and not wait
        return EdgeReport(method, tuple(tags), reached, tuple(errors), retrying, everything)

    async def _call(self, method: str, options: PurgeOptions) -> tuple[str, ...]:
        """The errors of one call; () when it succeeded."""
        call = self.cache.purge if method == PURGE else self.cache.invalidate
        try:
            result = await asyncio.wait_for(call(options), self.timeout)
        except TimeoutError:
            return (f"no answer within {self.timeout:g} s",)
        except Exception as exc:
            return (f"{type(exc).__name__}: {exc}",)
        if result.success:
            return ()
        return result.errors or ("success: false, with no errors given",)

    async def _retry(self, method: str, pending: list[PurgeOptions]) -> bool:
        backoff = Backoff(self.first_pause, self.max_pause)
        for attempt in range(2, self.attempts + 1):
            await self.sleep(backoff.failed(self.clock()))
            still: list[PurgeOptions] = []
            for options in pending:
                problem = await self._call(method, options)
                if problem:
                    still.append(options)
                    log.warning(
                        "seeding: edge %s attempt %d of %d failed: %s",
                        method,
                        attempt,
                        self.attempts,
                        "; ".join(problem),
                    )
            if not still:
                log.info("seeding: edge %s reached on attempt %d", method, attempt)
                return True
            pending = still
        log.error(
            "seeding: edge %s gave up after %d attempts; the edge keeps those pages until "
            "their edge max-age (at most a day); D1 holds the revalidation",
            method,
            self.attempts,
        )
        return False


def answer_with_edge(body: bytes, report: EdgeReport | None) -> bytes:
    """The revalidation endpoint's JSON answer `body` (a 200: D1 recorded it), saying
    what reached D1 and what reached the edge (`report`; None: no edge in front, or no
    `ctx.cache` to reach it)."""
    payload = json.loads(body)
    payload["d1"] = {"recorded": True}
    payload["edge"] = report.to_json() if report is not None else {"enabled": False}
    return json.dumps(payload).encode()

"""The deployment-wide tier behind each isolate's memory cache: regenerated pages in
Workers KV (`seeding.shared.kv_pages`), on-demand revalidation times in D1
(`seeding.shared.tag_clock`) and one regeneration per window across isolates through a D1
lease (`seeding.shared.regen_lease`). Every part is optional: with no KV and no D1 bound, the
tier answers as an isolate on its own would (its own freshness, no shared pages, every
stale page regenerated here), so the Worker behaves as it does without the tier.

What the request flow (`seeding.flow.handler`) may rely on:

- `verdict` never waits on anything: it reads this isolate's snapshot of the
  revalidation times. The snapshot is refreshed from D1 at most once per
  `TagClock.max_age` seconds: in the background (`refresh`, a `ctx.waitUntil` task) when
  the page is in memory or never revalidates, so neither waits on D1; awaited
  (`ensure_loaded`, bounded by the D1 timeout) on a memory miss of a page that can be
  newer than the build, which reads KV anyway, so a new isolate does not serve such a
  page revalidated before it started. A revalidation thus reaches an isolate within
  `max_age` seconds, but for one request served from the older snapshot while it
  refreshes.
- `read` costs at most one KV read per route variant per `ABSENT_SECONDS` while KV has
  nothing for it (a bounded, isolate-local memory of misses and of dynamic routes), so
  a dynamic page or a scan of unknown paths does not turn into a KV read per request.
- `write_later` writes in the background, never delaying a response; the page store
  limits writes to one a second per key and drops failures (logged).
- `may_regenerate` is the lease: True for exactly one isolate per key per window while
  D1 answers, and per isolate (as without D1) while it does not. The window is the
  page's revalidate time; a page made stale by an on-demand revalidation has a lease of
  its own per revalidation, so a second revalidation within a window still
  regenerates it.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from seeding.primitives.cache import CacheEntry
from seeding.routes import Variant
from seeding.shared.kv_pages import PageStore, page_key
from seeding.shared.regen_lease import RegenerationLease
from seeding.shared.tag_clock import TagClock, Verdict, own_verdict

WaitUntil = Callable[[Awaitable[Any]], None]

# How long a KV miss is remembered in an isolate (a regenerated page reaches other
# isolates through KV at most this much later than it would otherwise; KV itself may
# take ~60 s to spread), and a route that rendered dynamic.
ABSENT_SECONDS = 5.0
DYNAMIC_SECONDS = 60.0
MAX_REMEMBERED = 4096
# The lease window of a page that never revalidates but was marked stale by tag.
DEFAULT_WINDOW_SECONDS = 5.0


def isolate_id() -> str:
    """A holder id for this isolate's leases (call it inside a request: randomness at
    import is frozen into the memory snapshot and shared by every isolate)."""
    return secrets.token_hex(8)


@dataclass
class SharedTier:
    pages: PageStore | None = None
    tags: TagClock | None = None
    lease: RegenerationLease | None = None
    holder: str = ""
    _absent: OrderedDict[str, float] = field(default_factory=OrderedDict)

    @property
    def enabled(self) -> bool:
        return any(part is not None for part in (self.pages, self.tags, self.lease))

    def verdict(self, entry: CacheEntry, route: str, now: float) -> Verdict:
        if self.tags is not None:
            return self.tags.verdict(entry, route, now)
        return own_verdict(entry, now)

    async def ensure_loaded(self, now: float) -> None:
        """Await a refresh of the snapshot when one is due (the first one, or one
        older than `max_age`)."""
        if self.tags is not None:
            job = self.tags.claim_refresh(now)
            if job is not None:
                await job

    def refresh(self, now: float, wait_until: WaitUntil) -> None:
        """Schedule a refresh of the snapshot in the background when one is due."""
        if self.tags is not None:
            job = self.tags.claim_refresh(now)
            if job is not None:
                wait_until(job)

    async def read(
        self, build_id: str, variant: Variant, route: str, now: float, *, recheck: bool = False
    ) -> CacheEntry | None:
        """The KV copy of a route variant, or None. A recent miss is remembered (no
        read) unless `recheck`, as a regeneration asks for another isolate's copy."""
        if self.pages is None:
            return None
        key = page_key(build_id, variant, route)
        until = self._absent.get(key)
        if not recheck and until is not None and now < until:
            return None
        entry = await self.pages.read(build_id, variant, route, now)
        if entry is None:
            self._remember_absent(key, now + ABSENT_SECONDS)
        else:
            self._absent.pop(key, None)
        return entry

    def rendered_dynamic(self, build_id: str, variant: Variant, route: str, now: float) -> None:
        """A render of the route was dynamic: KV will not hold it, do not ask for a while."""
        if self.pages is not None:
            self._remember_absent(page_key(build_id, variant, route), now + DYNAMIC_SECONDS)

    def write_later(
        self,
        build_id: str,
        variant: Variant,
        route: str,
        entry: CacheEntry,
        now: float,
        wait_until: WaitUntil,
    ) -> None:
        if self.pages is not None:
            self._absent.pop(page_key(build_id, variant, route), None)
            wait_until(self.pages.write(build_id, variant, route, entry, now))

    async def write(
        self, build_id: str, variant: Variant, route: str, entry: CacheEntry, now: float
    ) -> None:
        if self.pages is not None:
            self._absent.pop(page_key(build_id, variant, route), None)
            await self.pages.write(build_id, variant, route, entry, now)

    async def may_regenerate(
        self, build_id: str, variant: Variant, route: str, entry: CacheEntry, now: float
    ) -> bool:
        if self.lease is None:
            return True
        window = float(entry.revalidate or DEFAULT_WINDOW_SECONDS)
        return await self.lease.try_acquire(
            self._lease_key(build_id, variant, route, entry), self.holder, window, now
        )

    async def regeneration_failed(
        self, build_id: str, variant: Variant, route: str, entry: CacheEntry, now: float
    ) -> None:
        if self.lease is not None:
            key = self._lease_key(build_id, variant, route, entry)
            await self.lease.release(key, self.holder, now)

    def _lease_key(self, build_id: str, variant: Variant, route: str, entry: CacheEntry) -> str:
        key = page_key(build_id, variant, route)
        mark = self.tags.latest_mark(entry, route) if self.tags is not None else None
        if mark is not None and mark >= entry.generated_at:
            key += f"@{mark!r}"
        return key

    def _remember_absent(self, key: str, until: float) -> None:
        self._absent[key] = until
        self._absent.move_to_end(key)
        while len(self._absent) > MAX_REMEMBERED:
            self._absent.popitem(last=False)

"""The deployment-wide tier behind each isolate's memory cache: regenerated pages in
Workers KV (`seeding.shared.kv_pages`), on-demand revalidation times in D1
(`seeding.shared.tag_clock`) and one regeneration at a time across isolates through a D1
lease (`seeding.shared.regen_lease`). Every part is optional: with no KV and no D1 bound, the
tier answers as an isolate on its own would (its own freshness, no shared pages, every
stale page regenerated here), so the Worker behaves as it does without the tier.

What the request flow (`seeding.flow.handler`) may rely on:

- Freshness has one bound: a page is never judged on a snapshot of the revalidation
  times older than `2 x TAG_CACHE_SECONDS` (`TagClock.bound`; 10 s by default), so a
  revalidation recorded longer ago than that is honoured by every answer, a memory hit
  included, however long the isolate sat idle. `ensure_loaded(now, wait_until)`, which
  the flow awaits before judging any entry, keeps it:
  - snapshot younger than `TAG_CACHE_SECONDS`: returns at once, no binding call and no
    suspension, so a memory hit costs nothing;
  - between that and the bound: serves on the snapshot and starts one refresh in the
    background (`wait_until`; the request does not wait);
  - older than the bound, or never loaded: awaits one refresh, shared by every
    concurrent request of the isolate, bounded by one D1 timeout (2 s).
  While D1 fails, refreshes back off and requests serve on the old snapshot without
  waiting (logged): past the bound only then. `verdict` never waits on anything.
- Every wait on KV or D1 in a request is bounded by one timeout: a KV read by
  `PageStore`'s read timeout (1 s), a refresh by the D1 timeout (2 s), however many
  pages of rows it reads and however many requests wait for it.
- `read` costs at most one KV read per route variant per `ABSENT_SECONDS` while KV has
  nothing for it (a bounded, isolate-local memory of misses and of dynamic routes), so
  a dynamic page or a scan of unknown paths does not turn into a KV read per request.
- `write_later` writes in the background, never delaying a response; the page store
  limits writes to one a second per key and drops failures (logged).
- `may_regenerate` is the lease: "being regenerated" (not "regenerated recently", which
  is the page's `generated_at` in KV). True for exactly one isolate per key while D1
  answers, for `LEASE_SECONDS` (30 s) at most, so a holder that dies blocks the page that
  long, whatever its revalidate window; per isolate (as without D1) while D1 does not
  answer. A lease is for the generation it replaces (and the revalidation that marked
  it), so the next generation of a page whose window is under 30 s is not held up.
  `regeneration_failed` gives the lease back; it may be awaited from a task being
  cancelled (the release runs shielded, within one D1 timeout).
- `prune` deletes expired lease rows and revalidation marks no page of this build can
  need (the Worker's Cron Trigger calls it; lease rows are also pruned on write).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from seeding.primitives.cache import CacheEntry
from seeding.primitives.expiring import ExpiringMap
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
    _absent: ExpiringMap[str, None] = field(
        default_factory=lambda: ExpiringMap(MAX_REMEMBERED), repr=False
    )
    # The lease key each route variant's regeneration took, to give back that one.
    _held: ExpiringMap[str, str] = field(
        default_factory=lambda: ExpiringMap(MAX_REMEMBERED), repr=False
    )

    @property
    def enabled(self) -> bool:
        return any(part is not None for part in (self.pages, self.tags, self.lease))

    def verdict(self, entry: CacheEntry, route: str, now: float) -> Verdict:
        if self.tags is not None:
            return self.tags.verdict(entry, route, now)
        return own_verdict(entry, now)

    async def ensure_loaded(self, now: float, wait_until: WaitUntil | None = None) -> None:
        """Make the snapshot good enough to judge entries at `now` (see the module
        docstring): nothing while it is younger than `TAG_CACHE_SECONDS`; a background
        refresh through `wait_until` until the bound (none without `wait_until`:
        `refresh` then starts it); past the bound, await one shared refresh, within
        one D1 timeout. Never raises."""
        tags = self.tags
        if tags is None:
            return
        age = tags.age(now)
        if age < tags.max_age:
            return
        if age < tags.bound:
            if wait_until is not None:
                self.refresh(now, wait_until)
            return
        await tags.refreshed(now)

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
        if not recheck and self._absent.contains(key, now):
            return None
        entry = await self.pages.read(build_id, variant, route, now)
        if entry is None:
            self._absent.set(key, None, expires_at=now + ABSENT_SECONDS, now=now)
        else:
            self._absent.discard(key)
        return entry

    def rendered_dynamic(self, build_id: str, variant: Variant, route: str, now: float) -> None:
        """A render of the route was dynamic: KV will not hold it, do not ask for a while."""
        if self.pages is not None:
            key = page_key(build_id, variant, route)
            self._absent.set(key, None, expires_at=now + DYNAMIC_SECONDS, now=now)

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
            self._absent.discard(page_key(build_id, variant, route))
            wait_until(self.pages.write(build_id, variant, route, entry, now))

    async def write(
        self, build_id: str, variant: Variant, route: str, entry: CacheEntry, now: float
    ) -> None:
        if self.pages is not None:
            self._absent.discard(page_key(build_id, variant, route))
            await self.pages.write(build_id, variant, route, entry, now)

    async def may_regenerate(
        self, build_id: str, variant: Variant, route: str, entry: CacheEntry, now: float
    ) -> bool:
        """True when this isolate should regenerate the route variant, whose stale
        entry is `entry`: it holds the lease (or D1 is unavailable and it has not
        regenerated it within a lease). Never raises."""
        if self.lease is None:
            return True
        key = self._lease_key(build_id, variant, route, entry)
        won = await self.lease.try_acquire(key, self.holder, now)
        if won:
            until = now + self.lease.duration
            self._held.set(page_key(build_id, variant, route), key, expires_at=until, now=now)
        return won

    async def regeneration_failed(
        self, build_id: str, variant: Variant, route: str, entry: CacheEntry, now: float
    ) -> None:
        """Give back the lease a failed or cancelled regeneration of the route variant
        took, so any isolate may try again at once. Safe to await from a task being
        cancelled: the release runs as a task of its own, shielded, bounded by the D1
        timeout; a second cancellation of the caller leaves it running. Never raises
        but that CancelledError; the lease lapses by itself anyway."""
        if self.lease is None:
            return
        key = self._held.pop(page_key(build_id, variant, route), now)
        if key is None:
            key = self._lease_key(build_id, variant, route, entry)
        await asyncio.shield(asyncio.ensure_future(self.lease.release(key, self.holder, now)))

    async def prune(self, now: float) -> int:
        """Delete the expired lease rows and the revalidation marks this build cannot
        need, in D1 (for a Cron Trigger); how many rows went. Never raises."""
        deleted = 0
        if self.lease is not None:
            deleted += await self.lease.prune(now)
        if self.tags is not None:
            deleted += await self.tags.prune(now)
        return deleted

    def _lease_key(self, build_id: str, variant: Variant, route: str, entry: CacheEntry) -> str:
        """What a regeneration replaces: the route variant's generation (`generatedAt`
        of the stale entry) and the revalidation that marked it, if any. A lease thus
        keeps other isolates off the generation it replaced for its whole duration,
        never off the next one: a page whose window is shorter than the lease
        regenerates on time."""
        key = f"{page_key(build_id, variant, route)}#{entry.generated_at!r}"
        mark = self.tags.latest_mark(entry, route) if self.tags is not None else None
        if mark is not None and mark >= entry.generated_at:
            key += f"@{mark!r}"
        return key

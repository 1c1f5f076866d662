"""What the edge (Workers Cache) reads from an answer: how long it may keep it, and
whether it may keep it at all.

The edge reads `Cloudflare-CDN-Cache-Control` (`EDGE_CACHE_CONTROL`) before
`CDN-Cache-Control` and `Cache-Control`, and strips it before the client. It is chosen
over `CDN-Cache-Control` because its value is this Worker's bookkeeping for Cloudflare
alone: the page's REMAINING freshness, counted from when it was generated. A cache
downstream that got it would add its own age on top; Cloudflare consumes it, so no one
else can. `Cache-Control` stays what browsers and other caches read
(`seeding.flow.policy.cache_control`, Next.js's convention).

`edge_cache_control(revalidate, expire, age, stale)`:
- a page that revalidates, fresh: `max-age=<revalidate - age>` (whole seconds, rounded
  down) and `stale-while-revalidate=<expire - revalidate>` (a year when it never
  expires), so the edge serves it stale while it asks the Worker, exactly as the Worker
  does. Never `s-maxage`: the edge turns off stale-while-revalidate for it.
- a STALE answer (its time is up, or an on-demand revalidation marked it): `max-age=0`
  with the rest of its window as `stale-while-revalidate`, so the edge never keeps it as
  fresh: its next request is answered stale while the edge revalidates (a conditional
  request the Worker answers `304` when the page did not change).
- a page that never revalidates: `max-age=EDGE_MAX_AGE` (a day), stale-while-revalidate a
  day more. Purges (by tag, path and build) are what replace it; the day bounds how long
  it outlives a purge that failed every retry, for one `304` per location a day.
- no `max-age` is over EDGE_MAX_AGE, for the same reason.
- an answer made while the isolate's copy of the revalidation times is out of date
  (`EdgeView.current` false: the first request after an idle spell) is sent as STALE:
  it may have been revalidated meanwhile, and the edge must not keep it as fresh.
An answer the Worker does not store gets `EDGE_NO_STORE`: the edge never stores what
the Worker did not (dynamic, private, errors, 404s of no route, redirects), whatever the
app's own `Cache-Control` says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EDGE_CACHE_CONTROL = "cloudflare-cdn-cache-control"
CACHE_TAG = "cache-tag"
EDGE_NO_STORE = "private, no-store"
EDGE_MAX_AGE = 86400
# stale-while-revalidate of a page that never expires (as Next.js's bare directive).
NO_EXPIRY_WINDOW = 31536000


@dataclass(frozen=True)
class EdgeView:
    """What the edge headers of one answer depend on beyond the page: when it is sent,
    and the route and build it is stored under (for its path and build tags)."""

    now: float
    route: str
    build_id: str
    # False while this isolate's copy of the revalidation times (D1) is older than its
    # bound: the page may have been revalidated meanwhile, so the edge gets it as stale.
    current: bool = True


def edge_cache_control(
    revalidate: int | None, expire: int | None, age: float, *, stale: bool
) -> str:
    """The edge directive of a stored page `age` seconds after it was generated."""
    if revalidate is None:
        if stale:  # marked by an on-demand revalidation; it never expires
            return f"max-age=0, stale-while-revalidate={EDGE_MAX_AGE}"
        return f"max-age={EDGE_MAX_AGE}, stale-while-revalidate={EDGE_MAX_AGE}"
    if stale:
        left = NO_EXPIRY_WINDOW if expire is None else math.floor(expire - age)
        return "max-age=0" if left <= 0 else f"max-age=0, stale-while-revalidate={left}"
    fresh = max(0, min(EDGE_MAX_AGE, math.floor(revalidate - age)))
    window = NO_EXPIRY_WINDOW if expire is None else max(0, expire - revalidate)
    if window == 0:
        return f"max-age={fresh}"
    return f"max-age={fresh}, stale-while-revalidate={window}"

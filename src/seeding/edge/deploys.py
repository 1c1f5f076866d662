"""A new build leaves no page of the previous build at the edge, also when the edge is
shared across Worker versions (`[cache] cross_version_cache = true`).

By default Workers Cache keys entries by Worker version: a deploy starts on an empty edge
and can never be served a previous version's page (the first request of each page at
each location runs the Worker, which seeds it from assets). With `cross_version_cache`
the entries outlive the deploy, so every stored page carries its build's tag
(`seeding.edge.tags.build_tag`) and the first isolate of a new build purges the previous
build's tag.

`BuildSweep.claim()` answers the job to run in `waitUntil` once per isolate. The job
swaps the D1 row `edge_builds.current` to this build in one conditional upsert (so one
isolate per deploy wins, however many start together), then purges the previous build's
tag, or everything when no build was recorded (pages of builds made before this record
carry no build tag), with `EdgePurger`'s retries. If every retry fails, it puts the row
back, and the next new isolate tries again. Without D1 there is no record: nothing is
swept (version-keyed caching, the default, needs none). A gradual deployment that
serves two builds at once would sweep back and forth: keep the edge version-keyed then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from seeding.edge.purge import PURGE, EdgePurger
from seeding.edge.tags import build_tag
from seeding.shared.sql_database import SqlDatabase

log = logging.getLogger("seeding")

_SWAP_SQL = """
INSERT INTO edge_builds (name, build_id, previous, switched_at) VALUES ('current', ?1, NULL, ?2)
ON CONFLICT (name) DO UPDATE SET
    previous = build_id, build_id = excluded.build_id, switched_at = excluded.switched_at
WHERE build_id != excluded.build_id
RETURNING previous
"""
_PUT_BACK_SQL = (
    "UPDATE edge_builds SET build_id = previous WHERE name = 'current' AND build_id = ?1"
)
_FORGET_SQL = "DELETE FROM edge_builds WHERE name = 'current' AND build_id = ?1"


class BuildSweep:
    def __init__(self, db: SqlDatabase, build_id: str, clock: Callable[[], float]) -> None:
        self._db = db
        self._build_id = build_id
        self._clock = clock
        self._claimed = False

    @property
    def pending(self) -> bool:
        """True until this isolate has claimed its sweep."""
        return not self._claimed

    def claim(self, purger: EdgePurger) -> Coroutine[Any, Any, bool] | None:
        """The sweep to run in `waitUntil`, the first time per isolate; else None."""
        if self._claimed:
            return None
        self._claimed = True
        return self._sweep(purger)

    async def _sweep(self, purger: EdgePurger) -> bool:
        """True when this isolate swapped the record (and purged, or tried to)."""
        try:
            rows = await self._db.all(_SWAP_SQL, [self._build_id, self._clock()])
        except Exception as exc:
            log.warning("seeding: edge build record not read from D1 (%r); not swept", exc)
            return False
        if not rows:
            return False  # the record already names this build
        previous = rows[0].get("previous")
        if isinstance(previous, str):
            report = await purger.send(PURGE, [build_tag(previous)], wait=True)
        else:
            report = await purger.send(PURGE, [], everything=True, wait=True)
        log.info(
            "seeding: build %s took over the edge from %s; purge %s",
            self._build_id,
            previous if isinstance(previous, str) else "(no recorded build: everything)",
            "done" if report.reached else "failed; the record is put back for the next isolate",
        )
        if not report.reached:
            undo = _PUT_BACK_SQL if isinstance(previous, str) else _FORGET_SQL
            try:
                await self._db.run(undo, [self._build_id])
            except Exception as exc:
                log.warning("seeding: edge build record not put back (%r)", exc)
        return True

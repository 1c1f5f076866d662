"""A new build leaves no page of the previous build at the edge, also when the edge is
shared across Worker versions (`[cache] cross_version_cache = true`).

By default Workers Cache keys entries by Worker version: a deploy starts on an empty edge
and can never be served a previous version's page (the first request of each page at
each location runs the Worker, which seeds it from assets). With `cross_version_cache`
the entries outlive the deploy, so every stored page carries its build's tag
(`seeding.edge.tags.build_tag`) and the first isolate of a new build purges the previous
build's tag. A "build" here is what the pages' keys and tags name, the deploy's
`<build>@<version>` (`seeding.shared.kv_pages.deploy_identity`): a new Worker version
over the same prerendered build takes over too, since its code may render differently.

A page the edge holds is answered without running the Worker, so a new build only
takes over once a request reaches Python: the first one of an isolate with an edge in
front claims the sweep in `waitUntil` (`BuildSweep.claim`), and the documented
post-deploy step, `scripts/revalidate.py --deploy` (the revalidation endpoint's
`{"deploy": true}`), runs it at once and answers its outcome (`deploy_answer`).

`BuildSweep.run` is the sweep, single flight per isolate: concurrent callers share one
(the others poll, `seeding.primitives.singleflight`), and a settled outcome is answered
again without touching D1. The sweep swaps the D1 row `edge_builds.current` to this
build in one conditional upsert (so one isolate per deploy wins, however many start
together), then purges the previous build's tag, or everything when no build was
recorded (pages of builds made before this record carry no build tag), with
`EdgePurger`'s retries. If every retry fails, it puts the row back; that outcome, like
a D1 that could not be read, is not settled: the next run (the next isolate, or the
step run again) tries again. Without D1 there is no record: nothing is swept
(version-keyed caching, the default, needs none). A gradual deployment that serves two
builds at once would sweep back and forth: keep the edge version-keyed then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from seeding.edge.purge import PURGE, EdgePurger, EdgeReport
from seeding.edge.tags import build_tag
from seeding.primitives.singleflight import SingleFlight
from seeding.shared.sql_database import SqlDatabase

log = logging.getLogger("seeding")

# A waiter gives up on the sweep under way after this: its purge retries take at most
# about 40 s (five calls of at most 5 s, 15 s of pauses).
MAX_WAIT_SECONDS = 60.0

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


@dataclass(frozen=True)
class SweepOutcome:
    """What one sweep did. `swapped`: it recorded this build in place of `previous`
    (None: no build was recorded, so everything was purged) and `report` says whether
    the purge reached the edge (if not, the record was put back). Not swapped: the
    record already named this build, or `problem` says why nothing was done."""

    swapped: bool
    previous: str | None = None
    report: EdgeReport | None = None
    problem: str | None = None

    @property
    def put_back(self) -> bool:
        return self.report is not None and not self.report.reached

    @property
    def settled(self) -> bool:
        """True when running the sweep again could change nothing."""
        return self.problem is None and not self.put_back


class BuildSweep:
    def __init__(
        self,
        db: SqlDatabase,
        build_id: str,
        clock: Callable[[], float],
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self._db = db
        self.build_id = build_id
        self._clock = clock
        self._claimed = False
        self._settled: SweepOutcome | None = None
        self._flight: SingleFlight[str, SweepOutcome] = SingleFlight(max_wait)
        self._unfinished = SweepOutcome(
            False, problem=f"the sweep under way did not finish within {max_wait:g} s"
        )

    @property
    def pending(self) -> bool:
        """True until this isolate has claimed or run its sweep."""
        return not self._claimed

    def claim(self, purger: EdgePurger) -> Coroutine[Any, Any, SweepOutcome] | None:
        """The sweep to run in `waitUntil`, the first time per isolate; else None."""
        if self._claimed:
            return None
        self._claimed = True
        return self.run(purger)

    async def run(self, purger: EdgePurger) -> SweepOutcome:
        """The sweep's outcome: the settled one when there is one, else the one under
        way (shared), else a new sweep's. Never raises."""
        self._claimed = True
        if self._settled is not None:
            return self._settled
        outcome = await self._flight.run(
            self.build_id, lambda: self._sweep(purger), self._unfinished
        )
        if outcome.settled:
            self._settled = outcome
        return outcome

    async def _sweep(self, purger: EdgePurger) -> SweepOutcome:
        try:
            rows = await self._db.all(_SWAP_SQL, [self.build_id, self._clock()])
        except Exception as exc:
            log.warning("seeding: edge build record not read from D1 (%r); not swept", exc)
            problem = (
                f"D1 did not answer ({type(exc).__name__}: {exc}); if the table edge_builds is "
                "missing, apply migrations/0003_edge_builds.sql"
            )
            return SweepOutcome(False, problem=problem)
        if not rows:
            return SweepOutcome(False)  # the record already names this build
        previous = rows[0].get("previous")
        if isinstance(previous, str):
            report = await purger.send(PURGE, [build_tag(previous)], wait=True)
        else:
            previous = None
            report = await purger.send(PURGE, [], everything=True, wait=True)
        log.info(
            "seeding: build %s took over the edge from %s; purge %s",
            self.build_id,
            previous or "(no recorded build: everything)",
            "done" if report.reached else "failed; the record is put back for the next isolate",
        )
        if not report.reached:
            undo = _PUT_BACK_SQL if previous is not None else _FORGET_SQL
            try:
                await self._db.run(undo, [self.build_id])
            except Exception as exc:
                log.warning("seeding: edge build record not put back (%r)", exc)
        return SweepOutcome(True, previous, report)


def deploy_answer(
    build_id: str, outcome: SweepOutcome | None, *, edge: bool
) -> tuple[int, dict[str, Any]]:
    """The status and JSON of the revalidation endpoint's answer to `{"deploy": true}`
    for this build (`build_id`): the outcome of its sweep
    (None: no D1 to record builds in, or no build), or, without an edge in front
    (`edge` False), that there is nothing to sweep. 200 unless D1 could not be read
    (503: nothing changed, retry)."""
    answer: dict[str, Any] = {"deploy": True, "build": build_id}
    if not edge:
        return 200, {**answer, "d1": {"swapped": False}, "edge": {"enabled": False}}
    if outcome is None:
        return 200, {**answer, "d1": {"enabled": False}, "edge": {"sent": False}}
    if outcome.problem is not None:
        return 503, {"error": f"the build was not swept: {outcome.problem}; retry"}
    if not outcome.swapped or outcome.report is None:
        return 200, {**answer, "d1": {"swapped": False, "current": True}, "edge": {"sent": False}}
    d1: dict[str, Any] = {"swapped": True, "previous": outcome.previous}
    if outcome.put_back:
        d1["putBack"] = True
    return 200, {**answer, "d1": d1, "edge": outcome.report.to_json()}

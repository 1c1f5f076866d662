"""The generation stamp: when and how a page was made.

It is the only part of a page that may differ between a build-time render and a
run-time render of the same route, and it is how users and tests tell a seeded
(prerendered) page from one rendered on request.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.dates import human_date, human_time, instant, iso_instant

PHASE_LABELS = {
    "build": "Prerendered at build time",
    "request": "Rendered on request",
}


@dataclass(frozen=True)
class Stamp:
    phase: str  # "build" or "request"
    at: str | None  # ISO 8601 UTC, None if `now` was not a representable time
    human: str  # "November 24, 2025 at 19:58:03 UTC"

    @property
    def label(self) -> str:
        return PHASE_LABELS.get(self.phase, f"Generated ({self.phase})")

    def to_data(self) -> dict[str, str | None]:
        return {"at": self.at, "phase": self.phase}


def make_stamp(now: float, phase: str) -> Stamp:
    moment = instant(now)
    if moment is None:
        return Stamp(phase=phase, at=None, human="at an unknown time")
    return Stamp(
        phase=phase,
        at=iso_instant(moment),
        human=f"{human_date(moment)} at {human_time(moment)}",
    )

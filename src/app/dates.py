"""Locale-free date and time formatting (the same output on every platform)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def format_date(iso_date: str) -> str:
    """ "2025-05-01" -> "May 1, 2025"."""
    day = date.fromisoformat(iso_date)
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def instant(epoch: float) -> datetime | None:
    """The UTC datetime of epoch seconds, or None if it is not a representable time."""
    if not isinstance(epoch, int | float) or not math.isfinite(epoch):
        return None
    try:
        return datetime.fromtimestamp(epoch, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def iso_instant(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: "2025-11-24T19:58:03.120Z"."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def human_date(moment: datetime) -> str:
    return f"{MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


def human_time(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} UTC"

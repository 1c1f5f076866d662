"""The soak's faults: which prerender files (packs) fail or are delayed in an isolate's
life, and how their number is steered towards a target share of all asset fetches.

Before each isolate starts, faults go on a deterministic sample of the files: each a
`raise`, a `status` 500 or 503, or a `delay_ms` of 50-300 ms, limited by `times` (1 or 2)
so later retries succeed. The share actually faulted is read back from the asset log.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FAULT_KINDS = ("raise", "status 500", "status 503", "delay")
DELAY_MS = (50, 300)
FAULT_TIMES = (1, 2)
# A faulted file adds about this many faulted fetches (times is 1 or 2) and, for the
# three failing kinds out of four, as many extra fetches (the retries that succeed).
FAULTED_PER_FILE = 1.5
EXTRA_PER_FILE = 1.5 * 3 / 4
# The measured share must land within this factor of --fault-rate.
SHARE_TOLERANCE = 0.5


def plan_faults(files: Sequence[str], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Faults on `count` of the prerender files (asset paths), drawn from `rng`: each a
    raise, a status 500 or 503, or a delay, for its first 1 or 2 fetches only."""
    chosen = rng.sample(sorted(files), min(max(count, 0), len(files)))
    faults: list[dict[str, Any]] = []
    for path in chosen:
        kind = rng.choice(FAULT_KINDS)
        fault: dict[str, Any] = {"path": path, "times": rng.choice(FAULT_TIMES)}
        if kind == "raise":
            fault["raise"] = f"injected by the soak (bench/soak): {path}"
        elif kind == "delay":
            fault["delay_ms"] = rng.randint(*DELAY_MS)
        else:
            fault["status"] = int(kind.split()[1])
        faults.append(fault)
    return faults


def next_fault_count(
    target: float, faulted: int, fetched: int, expected_fetches: float, n_files: int
) -> int:
    """How many files to fault in the next epoch so that the faulted share of all
    fetches so far and those expected next comes closest to `target`."""
    if target <= 0 or n_files <= 0:
        return 0
    need = target * (fetched + expected_fetches) - faulted
    per_file = FAULTED_PER_FILE - target * EXTRA_PER_FILE
    if need <= 0 or per_file <= 0:
        return 0 if need <= 0 else n_files
    return max(0, min(n_files, round(need / per_file)))


def fault_label(fault: str | None) -> str | None:
    """The asset log's fault label without the delay's amount ("delay 120ms" -> "delay")."""
    if not fault:
        return None
    return "delay" if fault.startswith("delay") else fault


def fault_share(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Fetches, faulted fetches, their share and their kinds, from asset log entries."""
    total = 0
    kinds: Counter[str] = Counter()
    for entry in entries:
        total += 1
        label = fault_label(entry.get("fault"))
        if label:
            kinds[label] += 1
    faulted = sum(kinds.values())
    return {
        "fetches": total,
        "faulted": faulted,
        "share": faulted / total if total else 0.0,
        "kinds": dict(sorted(kinds.items())),
    }

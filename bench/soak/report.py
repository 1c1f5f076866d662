"""The soak's report: its records and epochs summed up (`summarize`), and the section of
the results page (`result`: figures, the checks as goals, notes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from bench.soak.checks import (
    _mib,
    fallback_renders,
    growth_per_request,
    latency_summary,
    rss_limit,
)
from bench.soak.mix import WEIGHTS
from bench.stats import figure

if TYPE_CHECKING:
    from bench.soak.run import LoadRun


def summarize(soak: LoadRun) -> dict[str, Any]:
    """Every figure of the run, from its records and epochs."""
    records = soak.records
    statuses = Counter(str(r.status) for r in records)
    cache = Counter(r.cache_status for r in records)
    phases = Counter(r.phase for r in records if r.phase)
    groups: dict[str, Any] = {}
    for group in WEIGHTS:
        mine = [r for r in records if r.group == group]
        if not mine:
            continue
        groups[group] = {
            "requests": len(mine),
            "statuses": dict(Counter(str(r.status) for r in mine)),
            "phases": dict(Counter(r.phase for r in mine if r.phase)),
            "cache_statuses": dict(Counter(r.cache_status for r in mine)),
            "wrong": sum(1 for r in mine if not r.ok),
            "latency_ms": latency_summary([r.ms for r in mine if r.status]),
        }
    all_entries_fetched = sum(e.fetches for e in soak.epochs)
    all_faulted = sum(e.faulted for e in soak.epochs)
    kinds: Counter[str] = Counter()
    for e in soak.epochs:
        kinds.update(e.fault_kinds)
    warm = [(e.rss_warm, e.wasm_warm) for e in soak.epochs if e.rss_warm and e.wasm_warm]
    limit = rss_limit(warm)
    return {
        "requests": len(records),
        "requested": soak.requests,
        "concurrency": soak.settings.concurrency,
        "epochs": len(soak.epochs),
        "max_seconds": soak.settings.max_seconds,
        "load_seconds": soak.load_seconds,
        "wall_seconds": soak.wall_seconds,
        "throughput_rps": len(records) / soak.load_seconds if soak.load_seconds else 0.0,
        "latency_ms": latency_summary([r.ms for r in records if r.status]),
        "statuses": dict(sorted(statuses.items())),
        "cache_statuses": dict(sorted(cache.items())),
        "phases": dict(phases),
        "fallback_renders": fallback_renders(records),
        "checked": len(records),
        "wrong": sum(1 for r in records if not r.ok),
        "transport_errors": soak.transport_errors,
        "reconnects": soak.reconnects,
        "groups": groups,
        "urls": len(soak.probes),
        "faults": {
            "fetches": all_entries_fetched,
            "faulted": all_faulted,
            "share": all_faulted / all_entries_fetched if all_entries_fetched else 0.0,
            "kinds": dict(sorted(kinds.items())),
            "target": soak.settings.fault_rate,
            "files": len(soak.files),
        },
        "memory": {
            "rss_max": max((e.rss_max for e in soak.epochs), default=None),
            "rss_final": soak.rss_final,
            "rss_limit": limit,
            "rss_samples": len(soak.rss_samples),
            "wasm_max": max((e.wasm_end or 0 for e in soak.epochs), default=None),
            "growth_per_request": growth_per_request(soak.epochs),
            "calibration": soak.calibration,
            "cache": [e.cache for e in soak.epochs if e.cache],
        },
        "python": {
            "tracebacks": sum(e.tracebacks for e in soak.epochs),
            "uncaught": sum(e.uncaught for e in soak.epochs),
            "warnings": sum(e.warnings for e in soak.epochs),
        },
        "problems": soak.problems[:50],
    }


def result(soak: LoadRun, summary: dict[str, Any], goals: list[dict[str, str]]) -> dict[str, Any]:
    """The soak as a results-page section (`bench.report`)."""
    settings = soak.settings
    memory, faults = summary["memory"], summary["faults"]
    latencies = [r.ms for r in soak.records if r.status]
    return {
        "benchmark": "load",
        "title": "Load with faults (soak)",
        "python_in_worker": soak.python,
        "params": {
            "requests": settings.requests,
            "concurrency": settings.concurrency,
            "fault_rate": settings.fault_rate,
            "isolates": summary["epochs"],
        },
        "figures": [
            figure("load.latency", "latency, every request", "ms", latencies),
            figure("load.rps", "throughput under load", "req/s", [summary["throughput_rps"]]),
            figure(
                "load.faulted",
                "asset fetches faulted",
                "count",
                [faults["faulted"]],
                f"of {faults['fetches']} fetches ({faults['share']:.1%}): {faults['kinds']}",
            ),
            figure(
                "load.fallback",
                "prerendered routes rendered because seeding failed",
                "count",
                [summary["fallback_renders"]],
            ),
            figure(
                "load.rss_max",
                "workerd RSS, max",
                "B",
                [memory["rss_max"] or 0],
                f"bound {_mib(memory['rss_limit'])}",
            ),
            figure("load.wasm_max", "Python's WASM heap, max", "B", [memory["wasm_max"] or 0]),
            figure(
                "load.rss_per_request",
                "workerd RSS kept per request (median over isolates)",
                "B",
                [] if memory["growth_per_request"] is None else [memory["growth_per_request"]],
            ),
        ],
        "goals": goals,
        "notes": [
            f"{summary['requests']:,} GETs from {settings.concurrency} threads (keep-alive, "
            f"loopback) over {summary['urls']} URLs in {len(summary['groups'])} groups; "
            f"{summary['epochs']} isolates in turn (each a restart with the load paused, then "
            f"cold seeding under faults); faults on a sample of the {faults['files']} prerender "
            f"files (raise, status 500/503, delay 50-300 ms; 1-2 times each), steered towards "
            f"{settings.fault_rate:.0%} of fetches. Statuses {summary['statuses']}; cache "
            f"{summary['cache_statuses']}; seeded / rendered pages {summary['phases']}.",
            "Bodies compared with the site's render of the URL's route (stamp removed; pages "
            "that show the time by route, title and data link). RSS bound: the process's RSS "
            "minus the WASM heap after loading Python, plus a 128 MB isolate.",
        ],
        "problems": [f"{p['url']}: {p['problem']}" for p in summary["problems"][:10]],
        "raw": {"summary": summary, "epochs": [asdict(e) for e in soak.epochs]},
    }

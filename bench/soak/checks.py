"""The soak's verdict: per-request records and per-isolate epochs, summarized, and the
checks that decide PASS or FAIL.

Checks: no 5xx and no failed connection; every body correct for its URL; memory bounded;
no Python traceback or uncaught error; the faulted share near the target; every request
sent in time. The RSS bound is the process's fixed part (RSS minus the WASM heap right
after an isolate loaded Python, before any request) plus a whole 128 MB isolate: all the
Worker allocates lives in its isolate, so a process above that holds more than an isolate
may. (The local runtime's workerd keeps RSS per request on its own, whatever the Worker
does: a restart every 1,000 requests keeps that growth well below the isolate's share;
the summary reports both rates.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.soak.faults import SHARE_TOLERANCE
from bench.soak.mix import PRERENDERED_GROUPS
from bench.stats import percentile

MIB = 1024 * 1024
ISOLATE_BUDGET = 128 * MIB  # a Workers isolate's memory limit


@dataclass
class Record:
    group: str
    status: int  # 0: the request failed
    ms: float
    phase: str | None
    cache_status: str
    ok: bool


@dataclass
class Epoch:
    number: int
    faults: list[dict[str, Any]] = field(default_factory=list)
    restart_ms: float | None = None
    warmup_ms: float | None = None
    rss_warm: int | None = None
    wasm_warm: int | None = None
    rss_max: int = 0
    rss_end: int | None = None  # idle, after the epoch's last request
    requests: int = 0
    wasm_end: int | None = None
    cache: dict[str, Any] | None = None
    fetches: int = 0
    faulted: int = 0
    fault_kinds: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    tracebacks: int = 0
    uncaught: int = 0


def fallback_renders(records: Iterable[Record]) -> int:
    """Responses for prerendered routes rendered for the request itself (phase
    "request", cache MISS): what seeding failures cost. (A page regenerated after its
    revalidate period is rendered too, but answers HIT or STALE.)"""
    return sum(
        1
        for r in records
        if r.group in PRERENDERED_GROUPS and r.phase == "request" and r.cache_status == "MISS"
    )


def growth_per_request(epochs: Iterable[Epoch]) -> float | None:
    """The median over isolates of (idle RSS after the isolate's last request - RSS
    after its warm-up) / its requests: bytes the process kept per request."""
    rates = sorted(
        (e.rss_end - e.rss_warm) / e.requests
        for e in epochs
        if e.requests and e.rss_end is not None and e.rss_warm is not None
    )
    return percentile(rates, 50) if rates else None


def latency_summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "p99": None, "mean": None, "max": None}
    return {
        "median": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": sum(values) / len(values),
        "max": max(values),
    }


def rss_limit(warm_samples: Iterable[tuple[int, int]], budget: int = ISOLATE_BUDGET) -> int:
    """The RSS bound: the largest fixed part of the process (RSS minus the WASM heap,
    right after an isolate loaded Python) plus one isolate's whole budget."""
    fixed = [rss - wasm for rss, wasm in warm_samples]
    if not fixed:
        raise ValueError("no warm-up sample")
    return max(fixed) + budget


def check(check_id: str, label: str, ok: bool, detail: str) -> dict[str, str]:
    """One check, as a goal row of the results page (`bench.goals.goal`'s shape)."""
    return {
        "id": f"load-{check_id}",
        "label": f"load: {label}",
        "status": "PASS" if ok else "FAIL",
        "detail": detail,
    }


def evaluate_checks(summary: Mapping[str, Any], target_share: float) -> list[dict[str, str]]:
    statuses = {int(k): v for k, v in summary["statuses"].items()}
    server_errors = sum(v for k, v in statuses.items() if k >= 500)
    failed = summary["transport_errors"]
    wrong = summary["wrong"]
    memory = summary["memory"]
    faults = summary["faults"]
    python = summary["python"]
    sent, requested = summary["requests"], summary["requested"]
    low, high = target_share * (1 - SHARE_TOLERANCE), target_share * (1 + SHARE_TOLERANCE)
    rss_ok = memory["rss_max"] is not None and memory["rss_max"] < memory["rss_limit"]
    wasm_ok = memory["wasm_max"] is not None and memory["wasm_max"] < ISOLATE_BUDGET
    within = sum(1 for c in memory["cache"] if c["bytes"] <= c["budget"])
    cache_ok = within == len(memory["cache"])
    return [
        check(
            "no-5xx",
            "zero 5xx, zero failed requests",
            server_errors == 0 and failed == 0,
            f"{server_errors} responses >= 500, {failed} failed connections",
        ),
        check(
            "bodies",
            "every response correct for its URL",
            wrong == 0 and summary["checked"] == sent,
            f"{wrong} wrong of {summary['checked']} checked",
        ),
        check(
            "memory",
            "memory bounded",
            rss_ok and wasm_ok and cache_ok,
            f"workerd RSS max {_mib(memory['rss_max'])} < {_mib(memory['rss_limit'])}; "
            f"WASM heap max {_mib(memory['wasm_max'])} < {_mib(ISOLATE_BUDGET)}; "
            f"cache within its budget in {within}/{len(memory['cache'])} isolates",
        ),
        check(
            "python",
            "no Python traceback or uncaught error",
            python["tracebacks"] == 0 and python["uncaught"] == 0,
            f"{python['tracebacks']} tracebacks, {python['uncaught']} uncaught errors "
            f"({python['warnings']} warnings logged)",
        ),
        check(
            "faults",
            f"faulted share of asset fetches near {target_share:.0%}",
            faults["fetches"] > 0 and low <= faults["share"] <= high,
            f"{faults['faulted']} of {faults['fetches']} fetches = {faults['share']:.1%} "
            f"(accepted {low:.0%}-{high:.0%})",
        ),
        check(
            "complete",
            "every request sent in time",
            sent == requested,
            f"{sent} of {requested} within {summary['max_seconds']:.0f} s",
        ),
    ]


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f} MiB"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f} MiB"

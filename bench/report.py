#!/usr/bin/env python3
"""Assemble bench/RESULTS.md from the per-benchmark JSON files in bench/results/.

    python -m bench.report [--results bench/results] [--out bench/RESULTS.md] [--print]

The page: the issues' goals in their own words, the machine, the commit and command of
each benchmark, the goals table (PASS/FAIL), then each benchmark's figures (median, p95,
runs) and notes, in ORDER. Run by bench/run_all.py after each run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
ORDER = ("cold", "warm", "scale", "memory", "concurrency", "load", "starlette", "shared")

# The goals as the issues state them (issue 12 points 2 and 3, issue 10 point 7, issue 11
# point 8), quoted on the page above the measured table.
ISSUE_GOALS = (
    (
        "12",
        "seeded first-request Python CPU at most 1.3x that of a constant Worker making one "
        "`ASSETS` fetch of the same file; a second route at most 1.2x the same floor; c still "
        "flat within 1.2x from 1,000 to 100,000 routes, with 1 fetch; file counts still within "
        "the plans at 15,000 routes (Free) and 100,000 (Paid).",
    ),
    (
        "12",
        "Unlisted paths make no fetch in at least 99% of cases, for example through a compact "
        "membership filter shipped with the build's identity. Size it for 100,000 routes and "
        "state its cost at import.",
    ),
    (
        "12",
        "Warm path: a cached page, one request at a time (b2), at most 1.10x the constant "
        "Worker, and stable over 3 runs.",
    ),
    (
        "10",
        "Bench: for the Starlette example against the stdlib blog, the cold start (Python load "
        "plus import) and the first-request CPU; and render against seeded for its pages, which "
        "gives a real framework's render cost.",
    ),
    (
        "11",
        "Bench: a cold ISR request on a build older than its window, with KV (hit and miss) and "
        "without; the warm hit unchanged, with 0 binding calls; renders per window with 1, 2 "
        "and 4 isolates; D1 queries per request (goal: 0 on a memory hit, at most 1 per "
        "tag-cache interval per isolate otherwise).",
    ),
)


def load_results(results_dir: Path) -> list[dict[str, Any]]:
    """The known benchmarks' JSON payloads present in `results_dir`, in ORDER."""
    found = []
    for name in ORDER:
        path = results_dir / f"{name}.json"
        if path.is_file():
            found.append(json.loads(path.read_text()))
    return found


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "B":
        size = abs(value)
        if size >= 2**20:
            return f"{value / 2**20:.2f} MiB"
        if size >= 1024:
            return f"{value / 1024:.1f} KiB"
        return f"{value:.0f} B"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "req/s":
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def figures_table(figures: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| figure | median | p95 | runs | unit | notes |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for f in figures:
        unit = f.get("unit", "")
        lines.append(
            f"| {_cell(f['label'])} | {format_value(f.get('median'), unit)} | "
            f"{format_value(f.get('p95'), unit)} | {f.get('runs', 0)} | {unit} | "
            f"{_cell(f.get('note', ''))} |"
        )
    return lines


def goals_table(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| goal | result | figures |", "| --- | --- | --- |"]
    for result in results:
        for goal in result.get("goals", []):
            mark = {"PASS": "**PASS**", "FAIL": "**FAIL**"}.get(goal["status"], goal["status"])
            lines.append(f"| {_cell(goal['label'])} | {mark} | {_cell(goal['detail'])} |")
    return lines


def machine_lines(machine: dict[str, Any]) -> list[str]:
    memory = machine.get("memory_bytes")
    rows = [
        ("CPU", f"{machine.get('cpu')}, {machine.get('cores')} cores"),
        ("memory", f"{memory / 2**30:.1f} GiB" if memory else "unknown"),
        ("OS", machine.get("os")),
        ("Python (driver)", machine.get("python_driver")),
        ("Python in the Worker", machine.get("python_in_worker") or "-"),
        ("Pyodide", machine.get("pyodide")),
        ("Node", machine.get("node")),
        ("Miniflare / workerd", f"{machine.get('miniflare')} / {machine.get('workerd')}"),
    ]
    return ["| machine | |", "| --- | --- |", *(f"| {k} | {_cell(v)} |" for k, v in rows)]


def runs_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| benchmark | commit | finished (UTC) | duration | command |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for r in results:
        meta = r.get("meta", {})
        commit = meta.get("commit", {})
        sha = str(commit.get("commit", "?"))[:10] + (" (dirty)" if commit.get("dirty") else "")
        if commit.get("source") == "working tree":
            sha += ", src/ from the working tree"
        examples = commit.get("examples")
        if examples:
            sha += f", examples/ from {examples['ref']} ({str(examples['commit'])[:10]})"
        lines.append(
            f"| {r['benchmark']} | {sha} | {meta.get('finished', '?')} | "
            f"{meta.get('duration_s', 0) / 60:.1f} min | `{_cell(meta.get('command', '?'))}` |"
        )
    return lines


def render(results: list[dict[str, Any]]) -> str:
    out = ["# Benchmark results", "", "## The goals, as the issues state them", ""]
    out += [f'- Issue {number}: "{text}"' for number, text in ISSUE_GOALS]
    out.append("")
    if results:
        commands = sorted({r.get("meta", {}).get("command", "?") for r in results})
        out += [
            "Made with " + ", ".join(f"`{c}`" for c in commands) + " (see the README's "
            "Benchmarks section; `--help` for options). Every figure comes from the local "
            "runtime (Miniflare + Pyodide inside workerd) on the machine below; tables are "
            "written by `bench/report.py` from `bench/results/*.json`.",
            "",
        ]
        latest = max(results, key=lambda r: r.get("meta", {}).get("finished", ""))
        out += machine_lines(latest.get("meta", {}).get("machine", {}))
        out += ["", *runs_table(results), ""]
        quick = [r["benchmark"] for r in results if r.get("meta", {}).get("quick")]
        if quick:
            out += [f"**Quick (smoke) run** for: {', '.join(quick)}; not the full counts.", ""]
        out += ["## Goals", "", *goals_table(results), ""]
        for r in results:
            out += [f"## {r['title']}", ""]
            params = ", ".join(f"{k} {v}" for k, v in r.get("params", {}).items())
            if params:
                out += [f"Parameters: {params}.", ""]
            out += [*figures_table(r.get("figures", [])), ""]
            for note in r.get("notes", []):
                out.append(f"- {note}")
            for problem in r.get("problems", []):
                out.append(f"- **Problem:** {problem}")
            out.append("")
    else:
        out += ["No results yet: run `.venv/bin/python -m bench.run_all`.", ""]
    return "\n".join(out).rstrip() + "\n"


def assemble(results_dir: Path = RESULTS_DIR, out: Path = RESULTS_MD) -> str:
    text = render(load_results(results_dir))
    out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="JSON and .md inputs")
    parser.add_argument("--out", type=Path, default=RESULTS_MD, help="the page to write")
    parser.add_argument("--print", action="store_true", help="also print it")
    args = parser.parse_args(argv)
    text = assemble(args.results, args.out)
    if args.print:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

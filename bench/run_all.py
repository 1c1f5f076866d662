#!/usr/bin/env python3
"""Run the benchmarks against the local runtime and write bench/RESULTS.md.

    .venv/bin/python -m bench.run_all            # the full run (about 40 minutes on 2 cores)
    .venv/bin/python -m bench.run_all --quick    # a smoke run (a few minutes)
    .venv/bin/python -m bench.run_all --only warm,concurrency

Benchmarks (each its own module in bench/, each saving bench/results/<name>.json):

    cold         a. cold seed against its floor (a constant Worker making the same fetch)
    warm         b. warm hit vs a constant Worker, one at a time and at concurrency 8
    scale        c. cold seed for synthetic sites of 1,000 / 10,000 / 100,000 routes
    memory       d. distinct routes against the cache budget
    concurrency  e. 100 concurrent cold requests: fetches per file
    load         the load-with-faults soak (bench/soak/)
    starlette    the Starlette example against the stdlib blog: cold start, render, seed
    shared       the shared tier (KV, D1): skipped while the Worker binds neither

Then bench/report.py assembles bench/RESULTS.md (goals PASS/FAIL, tables, notes) from
every JSON there, and the page is printed. Runs hold the lock /tmp/bench.lock (shared with
other load tests on this machine); under `flock /tmp/bench.lock ...` the parent's lock is
used. The local runtime's setup runs first (scripts/setup-node.sh, scripts/vendor_sdk.sh:
at once when done). Synthetic sites are cached in bench/.cache/ (about 3 GB for 100,000
routes in both layouts).

Exit codes: 0 every benchmark ran (goals may FAIL: they are results); 1 a benchmark
failed to run (the others still ran; its previous JSON is kept); 2 usage.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import projects, report
from bench.machine import ROOT, git_info, log, machine_info

BENCHMARKS = ("cold", "warm", "scale", "memory", "concurrency", "load", "starlette", "shared")
LOCK = Path("/tmp/bench.lock")
RESULTS_DIR = ROOT / "bench" / "results"

FULL = {
    "isolates": 16,
    "steady_blocks": 6,
    "steady_per_block": 150,
    "warm_requests": 2000,
    "warm_rounds": 3,
    "warm_warmup": 200,
    "concurrency": 8,
    "scales": [1_000, 10_000, 100_000],
    "scale_isolates": 8,
    "unlisted": 2_000,
    "memory_routes": 100_000,
    "memory_requests": 30_000,
    "memory_concurrency": 16,
    "memory_chunk": 5_000,
    "memory_max_seconds": 900,
    "bursts": 5,
    "load_requests": 20_000,
    "starlette_isolates": 8,
    "shared_seconds": 30,
}
QUICK = {
    **FULL,
    "isolates": 3,
    "steady_blocks": 2,
    "steady_per_block": 40,
    "warm_requests": 300,
    "warm_rounds": 1,
    "warm_warmup": 50,
    "scales": [1_000, 10_000],
    "scale_isolates": 2,
    "unlisted": 300,
    "memory_routes": 10_000,
    "memory_requests": 3_000,
    "memory_chunk": 1_000,
    "memory_max_seconds": 300,
    "bursts": 1,
    "load_requests": 2_000,
    "starlette_isolates": 2,
    "shared_seconds": 8,
}


def command_line(argv: list[str]) -> str:
    """How this run was started, for RESULTS.md: paths relative to the repository, and
    the `flock` wrapper when the parent process is one."""
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(ROOT)
    text = shlex.join([str(exe), "-m", "bench.run_all", *argv])
    parent = parent_flock()
    return f"flock {parent} {text}" if parent else text


def parent_flock(proc: Path = Path("/proc")) -> str | None:
    """The lock file when the parent process is `flock FILE ...` (flock(1) keeps it held
    for us), else None."""
    try:
        raw = (proc / str(os.getppid()) / "cmdline").read_bytes()
    except OSError:
        return None
    return flock_target(raw.split(b"\0"))


# flock(1) options that take a value as the next word.
_FLOCK_VALUE_OPTIONS = {"-w", "--wait", "--timeout", "-E", "--conflict-exit-code"}


def flock_target(args: list[bytes]) -> str | None:
    """The lock file of a `flock [options] FILE command...` argument vector."""
    words = [a.decode(errors="replace") for a in args if a]
    if not words or Path(words[0]).name != "flock":
        return None
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in _FLOCK_VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


@contextlib.contextmanager
def bench_lock(path: Path, enabled: bool) -> Iterator[None]:
    """Hold `path` (flock(2), as flock(1) does) for the run, unless our parent is
    `flock` on it already (taking it again here would wait on ourselves)."""
    held_by_parent = parent_flock()
    if not enabled or (held_by_parent and Path(held_by_parent).resolve() == path.resolve()):
        yield
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for {path} (another benchmark or load test holds it)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def setup() -> None:
    """What the local runtime needs, as the HTTP tests set it up: node_modules from the
    lockfile and the vendored workers SDK (both return at once when already done)."""
    for script in ("scripts/setup-node.sh", "scripts/vendor_sdk.sh"):
        result = subprocess.run(["bash", script], cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{script} failed:\n{result.stdout}\n{result.stderr}")


def runners(p: dict[str, Any]) -> dict[str, Callable[[Path], dict[str, Any]]]:
    from bench import (
        cold_seed,
        concurrency,
        memory_budget,
        scale_runtime,
        shared_tier,
        starlette_site,
        warm_hit,
    )
    from bench.soak import run as soak

    return {
        "cold": lambda work: cold_seed.run(
            work,
            isolates=p["isolates"],
            blocks=p["steady_blocks"],
            per_block=p["steady_per_block"],
        ),
        "warm": lambda work: warm_hit.run(
            work,
            requests=p["warm_requests"],
            concurrency=p["concurrency"],
            rounds=p["warm_rounds"],
            warmup=p["warm_warmup"],
        ),
        "scale": lambda work: scale_runtime.run(
            work, scales=p["scales"], isolates=p["scale_isolates"], unlisted=p["unlisted"]
        ),
        "memory": lambda work: memory_budget.run(
            work,
            routes=p["memory_routes"],
            requests=p["memory_requests"],
            concurrency=p["memory_concurrency"],
            chunk=p["memory_chunk"],
            max_seconds=p["memory_max_seconds"],
        ),
        "concurrency": lambda work: concurrency.run(work, bursts=p["bursts"]),
        "load": lambda work: soak.run(work, requests=p["load_requests"]),
        "starlette": lambda work: starlette_site.run(work, isolates=p["starlette_isolates"]),
        "shared": lambda work: shared_tier.run(work, seconds=p["shared_seconds"]),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated benchmarks to run (default: all of {','.join(BENCHMARKS)})",
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="JSON output dir")
    parser.add_argument("--out", type=Path, default=report.RESULTS_MD, help="the page to write")
    parser.add_argument("--no-lock", action="store_true", help=f"do not take {LOCK}")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary projects")
    parser.add_argument(
        "--worktree",
        action="store_true",
        help="serve src/ (and use scripts/, wrangler.toml) as they are in the working tree; "
        "by default they come from the commit (HEAD), snapshot when the run starts",
    )
    parser.add_argument(
        "--examples-ref",
        help="take examples/ from this git ref (e.g. a branch wiring an example), not merged",
    )
    parser.add_argument("--isolates", type=int, help="a: fresh isolates per variant")
    parser.add_argument("--warm-requests", type=int, help="b: requests per round")
    parser.add_argument("--scales", type=int, nargs="+", help="c: site sizes (routes)")
    parser.add_argument("--scale-isolates", type=int, help="c: fresh isolates per site/layout")
    parser.add_argument("--memory-requests", type=int, help="d: distinct routes requested")
    parser.add_argument("--memory-routes", type=int, help="d: synthetic site size")
    parser.add_argument("--bursts", type=int, help="e: bursts")
    parser.add_argument("--load-requests", type=int, help="load: requests of the soak")
    args = parser.parse_args(argv)
    unknown = [b for b in args.only.split(",") if b not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}")
    return args


def params_for(args: argparse.Namespace) -> dict[str, Any]:
    params = dict(QUICK if args.quick else FULL)
    for key in (
        "isolates",
        "warm_requests",
        "scales",
        "scale_isolates",
        "memory_requests",
        "memory_routes",
        "bursts",
        "load_requests",
    ):
        value = getattr(args, key)
        if value is not None:
            params[key] = value
    params["memory_requests"] = min(params["memory_requests"], params["memory_routes"])
    return params


def write_result(name: str, payload: dict[str, Any], results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    params = params_for(args)
    selected = [b for b in BENCHMARKS if b in args.only.split(",")]
    command = command_line(argv)
    machine = machine_info()
    setup()
    failed = []
    with bench_lock(LOCK, not args.no_lock):
        work_root = Path(tempfile.mkdtemp(prefix="bench-run-"))
        try:
            # One snapshot for the whole run: what others commit or edit meanwhile is not
            # served by half of it.
            commit = git_info(include_sources=args.worktree)
            projects.snapshot_sources(
                work_root / "source",
                None if args.worktree else commit["commit"],
                examples_ref=args.examples_ref,
            )
            if args.examples_ref:
                commit["examples"] = {
                    "ref": args.examples_ref,
                    "commit": subprocess.run(
                        ["git", "rev-parse", args.examples_ref],
                        cwd=ROOT,
                        capture_output=True,
                        text=True,
                    ).stdout.strip(),
                }
            commit["source"] = "working tree" if args.worktree else "commit"
            log(
                f"{command}: {', '.join(selected)} at {commit['commit'][:10]} "
                f"(src/ from the {commit['source']})"
            )
            table = runners(params)
            for name in selected:
                started = time.monotonic()
                log(f"--- {name} ---")
                work = work_root / name
                work.mkdir()
                try:
                    payload = table[name](work)
                except Exception:
                    failed.append(name)
                    log(f"{name} failed (work dir {work}):\n{traceback.format_exc()}")
                    args.keep_work = True
                    continue
                if payload.get("python_in_worker"):
                    machine["python_in_worker"] = payload["python_in_worker"]
                payload["meta"] = {
                    "command": command,
                    "quick": args.quick,
                    "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
                    "duration_s": round(time.monotonic() - started, 1),
                    "commit": commit,
                    "machine": machine,
                    "params": {k: v for k, v in params.items()},
                }
                path = write_result(name, payload, args.results)
                log(f"{name}: wrote {path}")
        finally:
            if args.keep_work:
                log(f"work dir kept: {work_root}")
            else:
                shutil.rmtree(work_root, ignore_errors=True)
    text = report.assemble(args.results, args.out)
    print(text)
    if failed:
        log(f"failed to run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

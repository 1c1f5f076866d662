"""What a result was measured on and with: the machine (CPU, cores, memory, OS, the
versions of Node, Pyodide, Miniflare and workerd) and the commit, plus the progress log
for the person running the benchmarks.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.procfs import PROC, parse_status_bytes

ROOT = Path(__file__).resolve().parent.parent
# What a run serves and builds with, besides the benchmarks themselves (bench.projects).
SNAPSHOT_PATHS = ("src", "scripts", "wrangler.toml", "migrations", "examples")


def log(message: str) -> None:
    """Progress for the person running the benchmarks (stderr, flushed)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_cpuinfo(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or "unknown"


def parse_os_release(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "unknown"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _package_version(name: str) -> str | None:
    try:
        return json.loads((ROOT / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def node_binary() -> str:
    node = ROOT / "node_modules" / ".bin" / "node"
    return str(node) if node.exists() else "node"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS and the versions of what the benchmarks run on
    (`python_in_worker` is filled in from a runtime's warm-up answer)."""
    try:
        node = subprocess.run(
            [node_binary(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        node = "unknown"
    meminfo = _read(PROC / "meminfo")
    try:
        memory: int | None = parse_status_bytes(meminfo, "MemTotal") if meminfo else None
    except (KeyError, ValueError):
        memory = None
    return {
        "cpu": parse_cpuinfo(_read(PROC / "cpuinfo")),
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "os": f"{parse_os_release(_read(Path('/etc/os-release')))}, "
        f"{platform.system()} {platform.release()} {platform.machine()}",
        "python_driver": platform.python_version(),
        "node": node,
        "pyodide": _package_version("pyodide"),
        "miniflare": _package_version("miniflare"),
        "workerd": _package_version("workerd"),
        "python_in_worker": None,
    }


def git_info(include_sources: bool) -> dict[str, Any]:
    """The commit, and whether what the run uses differs from it: the runtime, the lock
    file and bench/, plus the sources when they are served from the working tree
    (`include_sources`; otherwise they come from the commit itself)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    used = ["runtime", "package-lock.json", "bench/*.py", "bench/*/*.py"]
    if include_sources:
        used += list(SNAPSHOT_PATHS)
    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "subject": git("log", "-1", "--format=%s")[:120],
        "dirty": bool(git("status", "--porcelain", "--", *used)),
    }

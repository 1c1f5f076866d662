"""The Starlette example against the stdlib blog (issue 10): what a real framework costs
a Worker at cold start, on its first request, and per rendered page.

Two sites, each served by the snapshot's seeding layer: the example blog (`app.SITE`,
plain Python) and the Starlette + Jinja2 example (`examples/starlette-blog`, its own
src/ and wrangler.toml, Starlette and Jinja2 vendored into a python_modules/ of its own
by `runtime.vendor`, cached in bench/.cache/). For each, three projects: with its build
(seeded), without one (every page rendered), and the constant Worker under its settings
(the cold start's floor). Per isolate and project:

    cold start      restart of isolate 0 (a new Python: load plus the main module's import),
                    CPU of workerd's main thread and the runtime's own load time
    first request   "/" in that fresh isolate (seeded: HIT from the pack; or rendered)
    pages           a few prerendered pages next, each cold for its route: seeded against
                    rendered is the site's render cost

Builds are made again when older than FRESH_S (posts revalidate after 60 s), so every
seeded page is a HIT.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from bench import projects
from bench.local import BenchRuntime, MeasuredRequest, cold_request
from bench.machine import ROOT, log
from bench.procfs import cpu_delta_ms, cpu_sample, wait_idle
from bench.projects import CONSTANT_ENTRY, make_project, public_files, run_build_step, write_worker
from bench.stats import figure, median
from seeding.build.manifest import MANIFEST_FILE, parse_manifest

FRESH_S = 40
EXAMPLE = Path("examples") / "starlette-blog"
SITES = ("blog", "starlette")
KINDS = ("seeded", "rendered", "constant")
EXPECTED = {"seeded": "HIT", "rendered": "MISS"}


def example_modules(example: Path, cache_dir: Path) -> Path:
    """python_modules/ with the example's dependencies (not the seeding package, which
    the benchmark serves from the snapshot's src/), vendored once per dependency list."""
    config = tomllib.loads((example / "pyproject.toml").read_text())
    deps = [
        d for d in config["project"]["dependencies"] if not d.startswith("lazy-seed-python-worker")
    ]
    home = cache_dir / ("starlette-modules-" + hashlib.sha256(repr(deps).encode()).hexdigest()[:12])
    if not (home / "python_modules").is_dir():
        home.mkdir(parents=True, exist_ok=True)
        (home / "pyproject.toml").write_text(
            '[project]\nname = "bench-starlette"\nversion = "0"\n'
            f"dependencies = {deps!r}\n".replace("'", '"')
        )
        log(f"vendoring {', '.join(deps)} -> {home / 'python_modules'}")
        subprocess.run(
            [sys.executable, "-m", "runtime.vendor", "--project", str(home)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return home / "python_modules"


class Site:
    """One site's three projects and its build."""

    def __init__(self, name: str, work: Path) -> None:
        self.name, self.work = name, work
        source = projects.SOURCE
        if name == "blog":
            src, wrangler, public, modules = source / "src", None, source / "public", None
            self.site = None
        else:
            example = source / EXAMPLE
            src = work / "starlette-src"
            shutil.copytree(example / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copytree(source / "src" / "seeding", src / "seeding")
            wrangler, public = example / "wrangler.toml", example / "public"
            modules = example_modules(example, ROOT / "bench" / ".cache")
            self.site = tomllib.loads((example / "pyproject.toml").read_text())["tool"]["seeding"][
                "site"
            ]
        self.roots: dict[str, Path] = {}
        for kind in KINDS:
            kind_src = (
                src if kind != "constant" else write_worker(work / f"{name}-k", CONSTANT_ENTRY)
            )
            root = make_project(
                work / f"{name}-{kind}", src=kind_src, wrangler=wrangler, python_modules=modules
            )
            if public.is_dir():
                public_files(root / "public", public)
            self.roots[kind] = root
        self.build = work / f"{name}-build"
        self.made = 0.0

    def ensure_fresh(self) -> bool:
        """Build again when older than FRESH_S; True when a new build was made."""
        if time.monotonic() - self.made < FRESH_S:
            return False
        seeded = self.roots["seeded"]
        site = ["--site", self.site, "--app-dir", str(seeded / "src")] if self.site else []
        run_build_step("prerender", *site, "--out", self.build)
        run_build_step("copy", self.build, seeded / "public", "--worker-dir", seeded / "src")
        self.made = time.monotonic()
        return True

    def pages(self) -> list[str]:
        """ "/", then the first prerendered page of a few kinds."""
        routes = [
            r.path for r in parse_manifest((self.build / MANIFEST_FILE).read_bytes()).seedable()
        ]
        picked = ["/"] + (["/about"] if "/about" in routes else [])
        for prefix in ("/blog/", "/posts/", "/tags/"):
            found = next((r for r in sorted(routes) if r.startswith(prefix)), None)
            if found:
                picked.append(found)
        return picked


def cold_start(runtime: BenchRuntime) -> tuple[float, float]:
    """(CPU ms of workerd's main thread, the runtime's load ms) of a new Python in isolate 0."""
    pid = runtime.workerd_pid()
    wait_idle(pid)
    before = cpu_sample(pid)
    info = runtime.restart(isolate=0)
    wait_idle(pid)
    return cpu_delta_ms(before, cpu_sample(pid))["main"], float(info["warmup"]["ms"])


def run(work: Path, *, isolates: int) -> dict[str, Any]:
    if not (projects.SOURCE / EXAMPLE / "src" / "entry.py").is_file():
        raise RuntimeError(
            f"{EXAMPLE}/src/entry.py is not in the sources served: the Starlette example is "
            "not wired as a Worker yet (run with --example-ref example-wiring)"
        )
    sites = {name: Site(name, work) for name in SITES}
    for site in sites.values():
        site.ensure_fresh()
    pages = {name: site.pages() for name, site in sites.items()}
    runtimes = {
        (name, kind): BenchRuntime(root, work / f"{name}-{kind}.log")
        for name, site in sites.items()
        for kind, root in site.roots.items()
    }
    samples: dict[str, list[float]] = {}
    problems: list[str] = []

    def add(key: str, value: float) -> None:
        samples.setdefault(key, []).append(value)

    try:
        for runtime in runtimes.values():
            runtime.start()
        for i in range(isolates):
            for (name, kind), runtime in runtimes.items():
                if kind == "seeded" and sites[name].ensure_fresh():
                    runtime.restart()  # every isolate: the new build module is read
                cpu, load_ms = cold_start(runtime)
                add(f"{name}.{kind}.start_cpu", cpu)
                add(f"{name}.{kind}.start_ms", load_ms)
                if kind == "constant":
                    continue
                for n, page in enumerate(pages[name]):
                    sample = cold_request(runtime, page, restart=False)
                    problem = _problem(name, kind, sample)
                    if problem:
                        problems.append(problem)
                        continue
                    add(f"{name}.{kind}.{'first' if n == 0 else page}", sample.cpu_main_ms)
            log(f"starlette: isolate {i + 1}/{isolates} done")
        python = runtimes[("starlette", "seeded")].python_version
    finally:
        for runtime in runtimes.values():
            runtime.stop()
    return summarize(samples, pages, problems, isolates, python)


def _problem(name: str, kind: str, sample: MeasuredRequest) -> str | None:
    if sample.status != 200 or sample.cache_status != EXPECTED[kind] or sample.errors:
        return (
            f"{name} {kind}: {sample.path} answered {sample.status} "
            f"{sample.cache_status or '-'} {sample.errors[:1]}"
        )
    return None


def summarize(
    samples: dict[str, list[float]],
    pages: dict[str, list[str]],
    problems: list[str],
    isolates: int,
    python: str | None,
) -> dict[str, Any]:
    label = {"blog": "stdlib blog", "starlette": "Starlette example"}
    figures = []
    for name in SITES:
        site = label[name]
        for kind in ("constant", "seeded"):
            load_ms = median(samples.get(f"{name}.{kind}.start_ms", [])) or 0.0
            figures.append(
                figure(
                    f"s.{name}.{kind}.start_cpu",
                    f"{site}, {'constant Worker' if kind == 'constant' else 'the site'}: cold "
                    "start CPU (Python load + import)",
                    "ms",
                    samples.get(f"{name}.{kind}.start_cpu", []),
                    f"the runtime's load time: {load_ms:.0f} ms",
                )
            )
        const = median(samples.get(f"{name}.constant.start_cpu", []))
        figures.append(
            figure(
                f"s.{name}.import_cpu",
                f"{site}: its import (cold start minus the constant Worker's median)",
                "ms",
                [v - const for v in samples.get(f"{name}.seeded.start_cpu", [])] if const else [],
            )
        )
        for kind in ("seeded", "rendered"):
            figures.append(
                figure(
                    f"s.{name}.{kind}.first",
                    f"{site}: first request of a fresh isolate, / {kind}: CPU",
                    "ms",
                    samples.get(f"{name}.{kind}.first", []),
                )
            )
        for page in pages[name][1:]:
            for kind in ("seeded", "rendered"):
                figures.append(
                    figure(
                        f"s.{name}.{kind}.{page}",
                        f"{site}: {page} {kind} (warm isolate, cold route): CPU",
                        "ms",
                        samples.get(f"{name}.{kind}.{page}", []),
                    )
                )
    return {
        "benchmark": "starlette",
        "title": "Starlette example against the stdlib blog (issue 10)",
        "python_in_worker": python,
        "params": {"isolates": isolates, "pages": pages},
        "figures": figures,
        "goals": [],
        "notes": [
            "CPU: workerd's main thread (schedstat) from idle to idle. Cold start: a new Python "
            "in isolate 0 (the runtime's restart of one isolate: Pyodide loaded, python_modules "
            "added, the main module imported), so the site's import is the difference to the "
            "constant Worker under the same settings. No memory snapshot locally: production "
            "restores one instead of loading and importing.",
            "Seeded vs rendered on the same page is the site's render cost for that page; the "
            "first request also pays first-run costs of the interpreter (lazy compilation).",
        ],
        "problems": problems,
        "raw": {"samples": samples},
    }

"""Synthetic sites for the scale benchmarks, made once and cached under bench/.cache/.

A build (`bench.synthetic_site`) and each layout of it live in a directory named by their
parameters and a digest of the code that made them, so a change to the generator or to
the layout code makes new ones (and removes the stale ones of the same parameters: a
copy of 100,000 routes is over a gigabyte).

- "packs": the Worker's layout, by the snapshot's copy step (`seeding.build.copy`):
  `public/__prerender/packs/` and `worker/prerender_build.py`, the build module a project
  serving it takes into its src/;
- "manifest": the baseline (`bench.baselines.manifest_layout`): the build, hard-linked.

    python -m bench.sites --routes 1000 10000 100000    # make them ahead of a run
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import projects
from bench.baselines.manifest_layout import copy_manifest_layout
from bench.machine import ROOT, log
from bench.projects import cache_key, run_build_step
from bench.synthetic_site import SiteSpec, write_site
from seeding.seed.build_identity import BUILD_MODULE

CACHE_DIR = ROOT / "bench" / ".cache"
DONE = ".done"
LAYOUTS = ("packs", "manifest")


@dataclass(frozen=True)
class LaidOut:
    """A synthetic site laid out for serving: its assets dir, and the build module a
    Worker serving it needs (None for the baseline, whose Worker reads the manifest)."""

    routes: int
    layout: str
    assets: Path
    build_module: Path | None
    made_in: str


def generator_sources() -> list[Path]:
    # The generator runs in this process, with the installed `seeding`.
    seeding = ROOT / "src" / "seeding"
    return [
        ROOT / "bench" / "synthetic_site.py",
        seeding / "build" / "manifest.py",
        seeding / "schema.py",
    ]


def layout_sources(layout: str) -> list[Path]:
    if layout == "manifest":
        return [ROOT / "bench" / "baselines" / "manifest_layout.py"]
    seeding = projects.SOURCE / "src" / "seeding"  # the snapshot's copy step runs
    return [
        seeding / "build" / "copy.py",
        seeding / "build" / "plan.py",
        seeding / "seed" / "packs.py",
        seeding / "seed" / "membership.py",
        seeding / "seed" / "build_identity.py",
    ]


def _params(spec: SiteSpec) -> dict[str, object]:
    return {
        "r": spec.routes,
        "seed": spec.seed,
        "html": "{}-{}".format(*spec.html_bytes),
        "data": "{}-{}".format(*spec.data_bytes),
    }


def _prune(keep: Path) -> None:
    """Remove other versions (older code digests) of the same artifact."""
    stem = keep.name.rsplit("-", 1)[0] + "-"
    for other in keep.parent.glob(stem + "*"):
        if other != keep and other.is_dir() and other.name.rsplit("-", 1)[0] + "-" == stem:
            log(f"removing stale cache {other.name}")
            shutil.rmtree(other, ignore_errors=True)


def synthetic_build(routes: int, cache_dir: Path = CACHE_DIR) -> Path:
    """The build directory of the synthetic site of `routes` routes (made if missing)."""
    spec = SiteSpec(routes)
    home = cache_dir / cache_key("site", _params(spec), generator_sources())
    if not (home / DONE).exists():
        home.mkdir(parents=True, exist_ok=True)
        _prune(home)
        log(f"generating a synthetic site of {routes:,} routes -> {home / 'build'}")
        started = time.monotonic()
        write_site(spec, home / "build", progress=routes >= 10_000)
        (home / DONE).write_text(f"{time.monotonic() - started:.1f} s\n")
    return home / "build"


def synthetic_layout(routes: int, layout: str, cache_dir: Path = CACHE_DIR) -> LaidOut:
    """The synthetic site of `routes` routes laid out in `layout` (made if missing)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: use one of {LAYOUTS}")
    build = synthetic_build(routes, cache_dir)
    params = {**_params(SiteSpec(routes)), "layout": layout}
    home = cache_dir / cache_key("assets", params, generator_sources() + layout_sources(layout))
    public, worker = home / "public", home / "worker"
    if not (home / DONE).exists():
        home.mkdir(parents=True, exist_ok=True)
        _prune(home)
        for stale in (public, worker):
            shutil.rmtree(stale, ignore_errors=True)
            stale.mkdir()
        log(f"laying out {routes:,} routes ({layout}) -> {public}")
        started = time.monotonic()
        if layout == "manifest":
            copy_manifest_layout(build, public)
        else:
            run_build_step("copy", build, public, "--worker-dir", worker)
        (home / DONE).write_text(f"{time.monotonic() - started:.1f} s\n")
    module = worker / f"{BUILD_MODULE}.py"
    return LaidOut(
        routes,
        layout,
        public,
        module if module.exists() else None,
        (home / DONE).read_text().strip(),
    )


def count_files(directory: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(directory))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make (or find) the cached synthetic sites.")
    parser.add_argument("--routes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    args = parser.parse_args(argv)
    for routes in args.routes:
        for layout in args.layouts:
            print(synthetic_layout(routes, layout).assets)
    return 0


if __name__ == "__main__":
    sys.exit(main())

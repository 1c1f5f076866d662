"""Synthetic sites for the scale benchmarks, made once and cached under bench/.cache/.

A build (bench/synthetic_site.py) and each layout of it (scripts/copy_prerender.py) live
in a directory named by their parameters and a digest of the code that made them, so a
change to the generator or the layout code makes new ones (and the stale ones of the
same parameters are removed: 100,000 routes take over a gigabyte per copy).

    python bench/sites.py --routes 1000 10000 100000    # make them ahead of a run
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _entry in (str(ROOT), str(ROOT / "src")):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from bench import harness  # noqa: E402
from bench.harness import CACHE_DIR, cache_key, log, run_script  # noqa: E402
from bench.synthetic_site import SiteSpec, write_site  # noqa: E402
from scripts.copy_prerender import PAID_PLAN_FILES, plan_files  # noqa: E402
from seeding.routes import PRERENDER_DIR  # noqa: E402


def generator_sources() -> list[Path]:
    # The generator runs here, with the seeding modules of this process (the working tree).
    return [
        ROOT / "bench" / "synthetic_site.py",
        ROOT / "src" / "seeding" / "manifest.py",
        ROOT / "src" / "seeding" / "routes.py",
    ]


def layout_sources() -> list[Path]:
    # The layout is made by the snapshot's copy script (bench.harness.SOURCE).
    return [
        harness.SOURCE / "scripts" / "copy_prerender.py",
        harness.SOURCE / "src" / "seeding" / "layout.py",
    ]


DONE = ".done"
LAYOUTS = ("sharded", "manifest")


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
    build = home / "build"
    if (home / DONE).exists():
        return build
    home.mkdir(parents=True, exist_ok=True)
    _prune(home)
    log(f"generating a synthetic site of {routes} routes -> {build}")
    started = time.monotonic()
    write_site(spec, build, progress=routes >= 10_000)
    (home / DONE).write_text(f"{time.monotonic() - started:.1f} s\n")
    return build


def synthetic_assets(routes: int, layout: str, cache_dir: Path = CACHE_DIR) -> Path:
    """An assets directory holding `__prerender/` in `layout` for the synthetic site of
    `routes` routes (made if missing). scripts/copy_prerender.py lays it out; where it
    refuses (the manifest layout of 100,000 routes is 200,001 files, over the 100,000 a
    deploy may have), the build directory itself is linked in, file for file (hard
    links): the manifest layout is the build's own tree, the same bytes."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: use one of {LAYOUTS}")
    build = synthetic_build(routes, cache_dir)
    spec = SiteSpec(routes)
    params = {**_params(spec), "layout": layout}
    home = cache_dir / cache_key("assets", params, generator_sources() + layout_sources())
    public = home / "public"
    if (home / DONE).exists():
        return public
    home.mkdir(parents=True, exist_ok=True)
    _prune(home)
    shutil.rmtree(public, ignore_errors=True)
    public.mkdir()
    log(f"laying out {routes} routes ({layout}) -> {public}")
    started = time.monotonic()
    how = "copy_prerender"
    if layout == "manifest" and deployable_files(routes, layout) > PAID_PLAN_FILES:
        shutil.copytree(build, public / PRERENDER_DIR, copy_function=os.link)
        how = "hard links of the build (copy_prerender refuses over 100,000 files)"
    else:
        run_script("scripts/copy_prerender.py", build, public, "--layout", layout)
    (home / DONE).write_text(f"{how}; {time.monotonic() - started:.1f} s\n")
    return public


def layout_method(assets: Path) -> str:
    done = assets.parent / DONE
    return done.read_text().split(";")[0].strip() if done.exists() else "unknown"


def deployable_files(routes: int, layout: str) -> int:
    """Files `copy_prerender.py --layout LAYOUT` would write for the synthetic site."""
    from bench.synthetic_site import synthetic_manifest

    files, _ = plan_files(synthetic_manifest(SiteSpec(routes)), layout)
    return files


def count_files(directory: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(directory))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make (or find) the cached synthetic sites.")
    parser.add_argument("--routes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    args = parser.parse_args(argv)
    for routes in args.routes:
        for layout in args.layouts:
            print(synthetic_assets(routes, layout))
    return 0


if __name__ == "__main__":
    sys.exit(main())

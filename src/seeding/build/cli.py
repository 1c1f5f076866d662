"""The build's command lines: `prerender` and `copy`, each a thin layer of argument
parsing and exit codes over the library (`seeding.build.prerender`,
`seeding.build.copy`). Installed as the `seeding-prerender` and `seeding-copy` console
scripts; this repository's `scripts/prerender.py` and `scripts/copy_prerender.py` call
them with the example site as the default.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from pathlib import Path

from seeding.build.copy import InvalidInput, copy_build
from seeding.build.files import OutputError
from seeding.build.prerender import CrawlLimits, ExitCode, write_build
from seeding.build.site_loader import (
    SiteLoadError,
    default_app_dir,
    load_site,
    site_origin,
    worker_source_dir,
)

PRERENDER_EPILOG = (
    "The build time (the age of every prerendered page) is now, or SOURCE_DATE_EPOCH when "
    "set, as reproducible builds have it. "
    "Exit codes: 0 every route rendered; 1 a route failed (named above, recorded as 'error' "
    "in the manifest); 2 usage; 3 the build could not be written (the previous one is kept); "
    "4 the site could not be loaded or failed to start."
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 1")
    return value


def prerender_main(argv: list[str] | None = None, *, default_site: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="seeding-prerender",
        description="Render every prerenderable route of a site into a build directory "
        "(meta/manifest.json + one file per route variant), with the site's own renderer.",
        epilog=PRERENDER_EPILOG,
    )
    parser.add_argument(
        "--site",
        required=default_site is None,
        default=default_site,
        help="the site, as module:attribute (a seeding renderer, e.g. an AsgiSite)"
        + (f"; default {default_site}" if default_site else ""),
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        help="folder to import the site's module from (default: the folder of `main` in "
        "./wrangler.toml, else the current folder)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("build"), help="build directory (default: ./build)"
    )
    parser.add_argument(
        "--crawl-depth",
        type=int,
        default=0,
        metavar="N",
        help="also prerender same-origin pages linked from the declared routes, up to N "
        "links away (default 0: only the declared routes)",
    )
    parser.add_argument(
        "--max-routes",
        type=_positive,
        default=1000,
        metavar="N",
        help="stop adding crawled routes once the build lists N routes (default 1000)",
    )
    args = parser.parse_args(argv)
    if args.crawl_depth < 0:
        parser.error("--crawl-depth must be 0 or more")
    try:
        app_dir = args.app_dir or default_app_dir(Path.cwd())
        site = load_site(args.site, app_dir)
        origin = site_origin(Path.cwd() / "wrangler.toml")
    except SiteLoadError as exc:
        print(f"prerender: error: {exc}", file=sys.stderr)
        return ExitCode.SITE_FAILED
    crawl = CrawlLimits(args.crawl_depth, args.max_routes) if args.crawl_depth else None
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    clock = time.time
    if epoch:
        try:
            built_at = float(epoch)
        except ValueError:
            print(
                f"prerender: error: SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds "
                "since 1970 (unset it, or give e.g. 1795550100)",
                file=sys.stderr,
            )
            return ExitCode.USAGE

        def clock() -> float:
            return built_at

    return int(asyncio.run(write_build(site, args.out, crawl=crawl, clock=clock, origin=origin)))


def copy_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="seeding-copy",
        description="Turn a prerender build into the Worker's private assets "
        "(ASSETS_DIR/__prerender/packs/, replacing the previous copy whole) and its build "
        "identity (prerender_build.py next to the Worker's main module).",
        epilog="Exit codes: 0 done; 1 invalid input (the message names the file, the field "
        "and the fix) or a failed write (the previous copy is kept); 2 usage.",
    )
    parser.add_argument("build_dir", type=Path, help="output of the prerender step")
    parser.add_argument(
        "assets_dir", type=Path, help="the [assets] directory of wrangler.toml (e.g. ./public)"
    )
    parser.add_argument(
        "--worker-dir",
        type=Path,
        help="folder of the Worker's main module, where prerender_build.py is written "
        "(default: the folder of `main` in ./wrangler.toml)",
    )
    args = parser.parse_args(argv)
    try:
        worker_dir = args.worker_dir
        if worker_dir is None:
            config = Path.cwd() / "wrangler.toml"
            if not config.is_file():
                raise InvalidInput(
                    f"no --worker-dir and no {config}: pass --worker-dir (the folder of the "
                    "Worker's main module)"
                )
            worker_dir = worker_source_dir(config)
        copy_build(
            args.build_dir,
            args.assets_dir,
            worker_dir,
            warn=lambda line: print(line, file=sys.stderr),
        )
    except (InvalidInput, SiteLoadError) as exc:
        print(f"copy: error: {exc}", file=sys.stderr)
        return 1
    except (OutputError, OSError) as exc:
        print(f"copy: error: {exc} (the previous copy is left as it was)", file=sys.stderr)
        return 1
    return 0


def run_prerender() -> None:
    sys.exit(prerender_main())


def run_copy() -> None:
    # A short batch run whose big manifest lives to the end: without the cyclic GC
    # walking its million objects again and again, planning 100,000 routes takes half
    # the time. Nothing here makes cyclic garbage worth collecting.
    gc.disable()
    sys.exit(copy_main())

"""Scale checks in CPython, no runtime needed: the files each layout uploads, and what the
Worker's route filter does with paths the build did not prerender.

    python -m bench.scale plan --routes 1000 15000 100000    # files per layout vs the plans
    python -m bench.scale unlisted --routes 100000            # unlisted paths that fetch

`plan` sizes both layouts with their own planners (`seeding.build.plan.plan_packs`; the
baseline's `manifest_layout_files`) for synthetic sites, writing nothing. `unlisted` asks
the build identity of a synthetic site (the copy step's `prerender_build.py`) what the
seeder asks before any fetch, the filter then the bucket map, for unlisted route keys.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.baselines.manifest_layout import manifest_layout_files
from bench.synthetic_site import SiteSpec, synthetic_manifest
from seeding.build.copy import FREE_PLAN_FILES, PAID_PLAN_FILES
from seeding.build.plan import plan_packs
from seeding.seed.build_identity import BuildIdentity, identity_of
from seeding.seed.packs import RouteDigest


@dataclass(frozen=True)
class FileBudget:
    routes: int
    layout: str
    files: int
    limit: int  # the plan's file limit this many routes must fit: Free up to 20,000


def plan_limit(routes: int) -> int:
    """The plan a site of `routes` routes is checked against: Free up to 15,000 routes
    (20,000 files), Paid beyond (100,000 files)."""
    return FREE_PLAN_FILES if routes <= 15_000 else PAID_PLAN_FILES


def file_budgets(route_counts: list[int]) -> list[FileBudget]:
    """Files each layout uploads for synthetic sites of these sizes."""
    rows = []
    for routes in route_counts:
        manifest = synthetic_manifest(SiteSpec(routes))
        limit = plan_limit(routes)
        rows.append(FileBudget(routes, "packs", plan_packs(manifest).file_count, limit))
        rows.append(FileBudget(routes, "manifest", manifest_layout_files(manifest), limit))
    return rows


def load_identity_module(path: Path) -> BuildIdentity:
    """The identity in a copy step's prerender_build.py, read as the Worker reads it."""
    spec = importlib.util.spec_from_file_location("bench_prerender_build", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return identity_of(module, str(path))


def unlisted_keys(count: int, seed: int = 7) -> list[str]:
    """`count` route keys no synthetic site lists (bench.synthetic_site.route_keys)."""
    rng = random.Random(seed)
    return [f"/missing/{rng.getrandbits(48):012x}" for _ in range(count)]


def would_fetch(identity: BuildIdentity, route: str) -> bool:
    """Whether the seeder fetches a pack for `route`: its filter and bucket map let the
    route through (seeding.seed.seeder.Seeder._seed, before any fetch)."""
    digest = RouteDigest.of(route)
    return identity.filter.might_contain(digest) and identity.holds_bucket(
        digest.bucket(identity.buckets)
    )


def fetching_share(identity: BuildIdentity, routes: list[str]) -> float:
    """The share of `routes` for which the Worker would fetch a pack."""
    return sum(would_fetch(identity, r) for r in routes) / len(routes) if routes else 0.0


def parse_ms(path: Path, repeat: int = 5) -> float:
    """CPython's time to import and validate a build module (the median of `repeat`)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        load_identity_module(path)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="files per layout for synthetic sites")
    plan.add_argument("--routes", type=int, nargs="+", default=[1_000, 15_000, 100_000])
    unlisted = sub.add_parser("unlisted", help="unlisted paths the filter lets through")
    unlisted.add_argument("--routes", type=int, default=100_000)
    unlisted.add_argument("--paths", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.command == "plan":
        print(f"{'routes':>8} {'layout':>9} {'files':>8} {'limit':>8}")
        for row in file_budgets(args.routes):
            print(f"{row.routes:>8} {row.layout:>9} {row.files:>8} {row.limit:>8}")
        return 0
    from bench.sites import synthetic_layout

    module = synthetic_layout(args.routes, "packs").build_module
    assert module is not None
    identity = load_identity_module(module)
    share = fetching_share(identity, unlisted_keys(args.paths))
    print(
        f"{args.routes:,} routes: {share:.3%} of {args.paths:,} unlisted paths fetch a pack; "
        f"filter {len(identity.filter.data):,} B, module {module.stat().st_size:,} B, "
        f"parsed in {parse_ms(module):.1f} ms (CPython)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

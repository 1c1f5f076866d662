#!/usr/bin/env python3
"""Scale checks for the prerender layouts: file budgets and the cost of a cold seed.

    python bench/scale.py plan --routes 1000 15000 100000
    python bench/scale.py cold BUILD_DIR ASSETS_DIR/__prerender [--index sharded] [--samples 50]
    python bench/scale.py cold BUILD_DIR BUILD_DIR --index manifest

`plan` sizes each layout for a synthetic site of N routes (`bench.synthetic_site`)
without writing a file: files uploaded, against the Free (20,000) and Paid (100,000)
plans, and the largest file against the 25 MiB limit. `cold` runs cold seeds in
CPython against a prerender root on disk (a fresh index, seeder and cache per sample,
as in a fresh isolate) and reports per seed: asset fetches, bytes fetched, time and
memory kept (tracemalloc). The checks the unit tests rely on (`layout_budget`,
`within_ratio`, `cold_seed`) are functions here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (str(ROOT), str(ROOT / "src")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench.synthetic_site import SiteSpec, synthetic_manifest  # noqa: E402
from scripts.copy_prerender import FREE_PLAN_FILES, PAID_PLAN_FILES, plan_files  # noqa: E402
from seeding.assets import AssetResponse  # noqa: E402
from seeding.cache import MemoryCache  # noqa: E402
from seeding.layout import LayoutPlan  # noqa: E402
from seeding.manifest import MAX_ASSET_BYTES, PrerenderManifest  # noqa: E402
from seeding.route_index import ManifestIndex, RouteIndex  # noqa: E402
from seeding.routes import PRERENDER_PREFIX, Variant  # noqa: E402
from seeding.seeder import Seeder  # noqa: E402
from seeding.sharded_index import ShardedIndex  # noqa: E402


@dataclass(frozen=True)
class LayoutBudget:
    routes: int
    layout: str
    files: int
    shards: int
    packs: int
    largest_file: int  # bytes of the largest file: body, pack, or (measured) manifest
    plan: LayoutPlan | None = field(default=None, compare=False, repr=False)

    @property
    def fits_free(self) -> bool:
        return self.files <= FREE_PLAN_FILES and self.largest_file <= MAX_ASSET_BYTES

    @property
    def fits_paid(self) -> bool:
        return self.files <= PAID_PLAN_FILES and self.largest_file <= MAX_ASSET_BYTES


def layout_budget(
    manifest: PrerenderManifest, layout: str, *, measure_manifest: bool = True
) -> LayoutBudget:
    """What `scripts/copy_prerender.py --layout LAYOUT` would upload for `manifest`,
    from the copy script's own planner (nothing is read or written). Serializing a
    large manifest to measure it takes seconds; `measure_manifest=False` skips it."""
    files, plan = plan_files(manifest, layout)
    largest = 0
    if layout in ("manifest", "both"):
        largest = max((r.bytes for r in manifest.files()), default=0)
        if measure_manifest:
            largest = max(largest, len(manifest.to_json().encode("utf-8")))
    if plan is not None:
        largest = max(largest, plan.largest_pack)
    return LayoutBudget(
        routes=len(manifest.routes),
        layout=layout,
        files=files,
        shards=plan.layout.shards if plan else 0,
        packs=plan.pack_count if plan else 0,
        largest_file=largest,
        plan=plan,
    )


def within_ratio(small: float, large: float, limit: float = 1.2) -> bool:
    """True when `large` is at most `limit` times `small` (costs that must not grow
    with the site: bytes, fetches, memory, time of a cold seed)."""
    return large <= small * limit


class DirectoryAssets:
    """An `AssetFetcher` over a prerender root on disk that counts what it serves."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log: list[tuple[str, int]] = []
        self.seconds = 0.0  # spent reading files: the asset layer's share, not ours

    async def fetch(self, path: str) -> AssetResponse:
        started = time.perf_counter()
        try:
            file = self.root / path[len(PRERENDER_PREFIX) :]
            if not path.startswith(PRERENDER_PREFIX) or not file.is_file():
                self.log.append((path, 0))
                return AssetResponse(404, b"")
            body = file.read_bytes()
            self.log.append((path, len(body)))
            return AssetResponse(200, body)
        finally:
            self.seconds += time.perf_counter() - started


@dataclass
class ColdSeed:
    route: str
    seeded: bool
    fetches: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0  # the Worker's own time: total minus the file reads
    kept_bytes: int = 0  # memory still allocated afterwards (index + cache)

    @property
    def bytes_fetched(self) -> int:
        return sum(size for _, size in self.fetches)


def new_index(kind: str) -> RouteIndex:
    clock = time.time
    if kind == "sharded":
        return ShardedIndex(clock)
    if kind == "manifest":
        return ManifestIndex(clock)
    raise ValueError(f"index kind {kind!r}: use 'sharded' or 'manifest'")


async def cold_seed(
    root: Path, route: str, kind: str, variant: Variant = Variant.HTML, *, memory: bool = False
) -> ColdSeed:
    """Seed `route` as the first request of a fresh isolate would: a new index,
    seeder and cache. With `memory`, tracemalloc measures what stays allocated."""
    assets = DirectoryAssets(root)
    if memory:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0] if memory else 0
        started = time.perf_counter()
        index = new_index(kind)
        cache = MemoryCache(64 * 1024 * 1024)
        seeder = Seeder(cache, index)
        build = await index.build(assets)
        entry = None
        if build is not None:
            entry = await seeder.seed(assets, build, route, variant)
        seconds = time.perf_counter() - started - assets.seconds
        kept = tracemalloc.get_traced_memory()[0] - before if memory else 0
        result = ColdSeed(route, entry is not None, list(assets.log), seconds, kept)
        del index, cache, seeder, entry
        return result
    finally:
        if memory:
            tracemalloc.stop()


def sample_routes(manifest: PrerenderManifest, count: int) -> list[str]:
    """`count` rendered routes spread evenly over the manifest's order."""
    rendered = [p for p, r in manifest.routes.items() if r.seedable]
    step = max(1, len(rendered) // max(count, 1))
    return rendered[::step][:count]


def _plan_command(routes: Sequence[int]) -> int:
    print(f"{'routes':>8} {'layout':>9} {'files':>8} {'shards':>7} {'packs':>7} free  paid")
    for n in routes:
        manifest = synthetic_manifest(SiteSpec(n))
        for layout in ("manifest", "sharded"):
            b = layout_budget(manifest, layout)
            print(
                f"{n:>8} {layout:>9} {b.files:>8} {b.shards:>7} {b.packs:>7} "
                f"{'yes' if b.fits_free else 'no':>4}  {'yes' if b.fits_paid else 'no':>4}"
            )
    return 0


def _cold_command(build: Path, root: Path, kind: str, samples: int) -> int:
    from seeding.manifest import parse_manifest
    from seeding.routes import MANIFEST_FILE

    routes = sample_routes(parse_manifest((build / MANIFEST_FILE).read_bytes()), samples)
    # Timed without tracemalloc (it slows allocation several times), then measured.
    timed = [asyncio.run(cold_seed(root, r, kind)) for r in routes]
    seeds = [asyncio.run(cold_seed(root, r, kind, memory=True)) for r in routes]
    for seed, clean in zip(seeds, timed, strict=True):
        seed.seconds = clean.seconds
    print(
        f"{kind}: {len(seeds)} cold seeds, "
        f"{statistics.mean(len(s.fetches) for s in seeds):.1f} fetches, "
        f"{statistics.mean(s.bytes_fetched for s in seeds) / 1024:.1f} KiB fetched, "
        f"{statistics.median(s.seconds for s in seeds) * 1000:.2f} ms (median), "
        f"{statistics.mean(s.kept_bytes for s in seeds) / 1024:.0f} KiB kept; "
        f"{sum(s.seeded for s in seeds)} seeded"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="file budgets per layout for synthetic sites")
    plan.add_argument("--routes", type=int, nargs="+", default=[1_000, 15_000, 100_000])
    cold = sub.add_parser("cold", help="cold seeds against a prerender root on disk")
    cold.add_argument("build", type=Path, help="the build directory (its manifest lists routes)")
    cold.add_argument(
        "root",
        type=Path,
        help="a prerender root: ASSETS_DIR/__prerender, or the build directory itself "
        "for --index manifest",
    )
    cold.add_argument("--index", choices=("sharded", "manifest"), default="sharded")
    cold.add_argument("--samples", type=int, default=50)
    args = parser.parse_args(argv)
    if args.command == "plan":
        return _plan_command(args.routes)
    return _cold_command(args.build, args.root, args.index, args.samples)


if __name__ == "__main__":
    sys.exit(main())

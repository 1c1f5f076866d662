#!/usr/bin/env python3
"""Write a synthetic prerender build of N routes, for benchmarks at scale.

    python -m bench.synthetic_site --routes 100000 --out /tmp/site100k
    python scripts/copy_prerender.py /tmp/site100k /tmp/public100k --worker-dir /tmp/w100k

The output is what the prerender step writes (same contract: `seeding.build.manifest`
names the files and writes the manifest), so the copy step and the Worker cannot tell
it from a real build. It is deterministic: the same arguments give the
same bytes, but for the build id and time, which are fixed unless asked otherwise.

Pages are realistic in size and shape: HTML of 5-15 KB and JSON data of 1-3 KB by
default (uniform, per route), under route keys like `/blog/2024/slug-0001234`,
`/docs/section-07/page-000123` and `/products/category-03/item-0004567`, with
revalidate times of never, 60 s and 1 h. Content is cut from a fixed pseudo-random
text, so 100,000 routes (~1.2 GB, 200,000 files) take well under two minutes on
ordinary disks; the time goes to the file system.

Exit codes: 0 done; 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seeding.build.manifest import (
    MANIFEST_FILE,
    BuiltRoute,
    BuiltVariant,
    PrerenderManifest,
    variant_file,
)
from seeding.config import DEFAULT_EXPIRE_SECONDS
from seeding.routes import Variant
from seeding.schema import RouteStatus

DEFAULT_SEED = 20261124
DEFAULT_HTML_BYTES = (5_000, 15_000)
DEFAULT_DATA_BYTES = (1_000, 3_000)
BUILD_ID = "synthetic"
BUILT_AT = 1_795_550_100.0
# One in this many routes is listed but not prerendered (an on-demand page).
SKIPPED_EVERY = 50

_VOCABULARY = (
    "cache seed route isolate worker python render static asset edge shard pack build "
    "deploy request response header body stale fresh revalidate expire page blog post "
    "docs section product item review price update latest archive tag the a of and to "
    "in is for on with as by at from it that this be are was"
)
_WORDS = _VOCABULARY.split()


@dataclass(frozen=True)
class SiteSpec:
    routes: int
    seed: int = DEFAULT_SEED
    html_bytes: tuple[int, int] = DEFAULT_HTML_BYTES
    data_bytes: tuple[int, int] = DEFAULT_DATA_BYTES
    build_id: str = BUILD_ID
    built_at: float = BUILT_AT


def route_keys(count: int) -> list[str]:
    """`count` distinct, valid route keys: "/", two section roots, then pages."""
    fixed = ["/", "/about", "/blog", "/docs", "/products"][:count]
    keys = list(fixed)
    for i in range(count - len(fixed)):
        kind = i % 3
        if kind == 0:
            keys.append(f"/blog/{2015 + i % 11}/slug-{i:07d}")
        elif kind == 1:
            keys.append(f"/docs/section-{i % 40:02d}/page-{i:07d}")
        else:
            keys.append(f"/products/category-{i % 25:02d}/item-{i:07d}")
    return keys


@dataclass(frozen=True)
class PageSpec:
    route: str
    html_bytes: int
    data_bytes: int
    revalidate: int | None
    skipped: bool


def page_specs(spec: SiteSpec) -> Iterator[PageSpec]:
    rng = random.Random(spec.seed)
    for n, route in enumerate(route_keys(spec.routes)):
        html = rng.randint(*spec.html_bytes)
        data = rng.randint(*spec.data_bytes)
        revalidate = (None, 60, 3600)[rng.randrange(3)]
        skipped = n > 0 and n % SKIPPED_EVERY == 0
        yield PageSpec(route, html, data, revalidate, skipped)


def synthetic_manifest(spec: SiteSpec) -> PrerenderManifest:
    """The manifest a build of `spec` has, without writing or even making a page:
    what planning and budget checks need for 100,000 routes in a unit test."""
    routes = {page.route: _record(page) for page in page_specs(spec)}
    return PrerenderManifest(spec.build_id, spec.built_at, "", False, True, routes)


def _record(page: PageSpec) -> BuiltRoute:
    if page.skipped:
        return BuiltRoute(page.route, page.route, RouteStatus.SKIPPED, reason="on-demand")
    return BuiltRoute(
        path=page.route,
        pattern=_pattern(page.route),
        status=RouteStatus.RENDERED,
        revalidate=page.revalidate,
        expire=DEFAULT_EXPIRE_SECONDS,
        http_status=200,
        variants={
            Variant.HTML: BuiltVariant(
                variant_file(page.route, Variant.HTML),
                page.html_bytes,
                {"content-type": Variant.HTML.content_type},
            ),
            Variant.DATA: BuiltVariant(
                variant_file(page.route, Variant.DATA),
                page.data_bytes,
                {"content-type": Variant.DATA.content_type},
            ),
        },
    )


def _pattern(route: str) -> str:
    parts = route.split("/")
    if len(parts) <= 2:
        return route
    return "/".join([*parts[:2], *(f"[{p.split('-')[0]}]" for p in parts[2:])])


class _Text:
    """A fixed pseudo-random text to cut page content from, cheaply."""

    def __init__(self, seed: int, size: int = 1 << 17) -> None:
        rng = random.Random(seed ^ 0x5EED)
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(_WORDS)
            words.append(word)
            length += len(word) + 1
        self.text = " ".join(words)

    def cut(self, start: int, length: int) -> str:
        if length >= len(self.text):
            return (self.text * (length // len(self.text) + 1))[:length]
        start %= len(self.text) - length
        return self.text[start : start + length]


def page_bodies(page: PageSpec, text: _Text) -> tuple[bytes, bytes]:
    """The HTML and JSON bodies of one page, exactly `html_bytes`/`data_bytes` long."""
    start = int.from_bytes(page.route.encode()[-6:].rjust(6, b"\0"), "big")
    head = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{page.route}</title><link rel=stylesheet href=/styles.css></head>"
        f"<body><header><a href=/>Home</a></header><main><h1>{page.route}</h1><p>"
    )
    tail = "</p></main><footer>synthetic site</footer></body></html>"
    room = page.html_bytes - len(head) - len(tail)
    html = (head + text.cut(start, max(room, 0)) + tail).encode()[: page.html_bytes]
    data_head = json.dumps({"route": page.route, "title": page.route, "body": ""})[:-2]
    data_room = page.data_bytes - len(data_head) - 2
    data = (data_head + text.cut(start * 7, max(data_room, 0)) + '"}').encode()
    return html, data[: page.data_bytes]


def write_site(spec: SiteSpec, out: Path, *, progress: bool = False) -> PrerenderManifest:
    """Write the build directory of `spec` to `out` (replaced whole, via a staging
    directory beside it); the manifest written."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
    try:
        text = _Text(spec.seed)
        routes: dict[str, BuiltRoute] = {}
        made: set[str] = set()
        started = time.monotonic()
        for n, page in enumerate(page_specs(spec), 1):
            record = _record(page)
            routes[page.route] = record
            if record.seedable:
                html, data = page_bodies(page, text)
                for variant, body in ((Variant.HTML, html), (Variant.DATA, data)):
                    relative = record.variants[variant].file
                    directory = relative.rsplit("/", 1)[0]
                    if directory not in made:
                        (staging / directory).mkdir(parents=True, exist_ok=True)
                        made.add(directory)
                    fd = os.open(staging / relative, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    try:
                        os.write(fd, body)
                    finally:
                        os.close(fd)
            if progress and n % 10_000 == 0:
                print(f"synthetic: {n}/{spec.routes} routes, {time.monotonic() - started:.1f} s")
        manifest = PrerenderManifest(spec.build_id, spec.built_at, "", False, True, routes)
        (staging / MANIFEST_FILE).parent.mkdir(parents=True, exist_ok=True)
        (staging / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _size_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(x) for x in text.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use MIN-MAX bytes, e.g. 5000-15000") from None
    if not 0 < low <= high:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 < MIN <= MAX")
    return low, high


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a deterministic synthetic prerender build (manifest + route "
        "files, the contract of scripts/prerender.py) for benchmarks.",
        epilog="Exit codes: 0 done, 2 usage. Then: scripts/copy_prerender.py OUT ASSETS_DIR "
        "--worker-dir WORKER_DIR",
    )
    parser.add_argument("--routes", type=int, required=True, help="number of routes (>= 1)")
    parser.add_argument("--out", type=Path, required=True, help="build directory to (re)create")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="PRNG seed")
    parser.add_argument(
        "--html-bytes",
        type=_size_range,
        default=DEFAULT_HTML_BYTES,
        metavar="MIN-MAX",
        help="HTML page size range (default 5000-15000)",
    )
    parser.add_argument(
        "--data-bytes",
        type=_size_range,
        default=DEFAULT_DATA_BYTES,
        metavar="MIN-MAX",
        help="JSON data size range (default 1000-3000)",
    )
    args = parser.parse_args(argv)
    if args.routes < 1:
        parser.error("--routes must be at least 1")
    spec = SiteSpec(args.routes, args.seed, args.html_bytes, args.data_bytes)
    started = time.monotonic()
    manifest = write_site(spec, args.out, progress=True)
    pages = sum(r.bytes for r in manifest.files())
    print(
        f"synthetic: {len(manifest.routes)} routes, {sum(1 for _ in manifest.files())} files, "
        f"{pages / 1e6:.1f} MB of pages, manifest "
        f"{(args.out / MANIFEST_FILE).stat().st_size / 1e6:.1f} MB -> {args.out} "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

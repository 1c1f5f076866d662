#!/usr/bin/env python3
"""Render every prerenderable route of the site into a build directory.

    python scripts/prerender.py [--out build]

Runs the Worker's own renderer (`app.SITE`) under CPython and writes
`<out>/meta/manifest.json` plus one file per variant under `<out>/routes/`, as
`seeding.routes` lays them out. The build directory is written beside the old one
and swapped in at the end, so a failed run never leaves a half-written build.

Exit codes: 0 every route rendered; 1 a route failed to render (it is recorded as
"error" in the manifest, and named with its exception); 2 usage; 3 the build could
not be written (the message names the path; the previous build is left as it was).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from seeding.config import SiteConfig  # noqa: E402
from seeding.manifest import (  # noqa: E402
    PrerenderManifest,
    RouteRecord,
    RouteStatus,
    VariantRecord,
    new_build_id,
)
from seeding.rendering import Renderer, RenderMode, RenderRequest, SiteRoute  # noqa: E402
from seeding.routes import MANIFEST_FILE, Variant, validate_route_key, variant_file  # noqa: E402


class RouteFailed(Exception):
    pass


class BuildWriteFailed(Exception):
    """Writing the build failed (a full or read-only disk): not a route's fault, so
    the whole build is abandoned and the previous one kept."""


def write_file(target: Path, data: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:
        if exc.filename is None:  # a failed write() (e.g. ENOSPC) names no file
            exc.filename = str(target)
        raise BuildWriteFailed(str(exc)) from exc


async def render_route(
    site: Renderer, route: SiteRoute, built_at: float, out: Path, expire: int | None
) -> RouteRecord:
    validate_route_key(route.path)
    variants: dict[Variant, VariantRecord] = {}
    revalidate: int | None = None
    for variant in Variant:
        result = await site.render(
            RenderRequest(route=route.path, variant=variant, now=built_at, phase="build")
        )
        if result.status != 200:
            raise RouteFailed(
                f"the renderer answered HTTP {result.status} for the {variant.value} variant"
            )
        if result.dynamic:
            raise RouteFailed(
                f"the {variant.value} variant is dynamic; mark the route "
                f"{RenderMode.DYNAMIC.value!r} instead of prerendering it"
            )
        if variant is Variant.HTML:
            revalidate = result.revalidate
        relative = variant_file(route.path, variant)
        write_file(out / relative, result.body)
        headers = {k.lower(): v for k, v in result.headers.items()}
        variants[variant] = VariantRecord(file=relative, bytes=len(result.body), headers=headers)
    return RouteRecord(
        path=route.path,
        pattern=route.pattern,
        status=RouteStatus.RENDERED,
        revalidate=revalidate,
        expire=expire,
        http_status=200,
        variants=variants,
    )


async def build(site: Renderer, config: SiteConfig, out: Path) -> tuple[PrerenderManifest, int]:
    built_at = time.time()
    build_id = new_build_id(built_at)
    routes = list(site.site_routes())
    records: dict[str, RouteRecord] = {}
    failures = 0
    total = len(routes)
    print(f"prerender: build {build_id}, {total} routes -> {out}")
    for n, route in enumerate(routes, 1):
        if route.path in records:
            raise SystemExit(f"prerender: route {route.path} is listed twice by the site")
        if route.mode is not RenderMode.PRERENDER:
            records[route.path] = RouteRecord(
                path=route.path,
                pattern=route.pattern,
                status=RouteStatus.SKIPPED,
                reason=route.reason or route.mode.value,
            )
            print(f"  [{n}/{total}] {route.path}: skipped ({route.mode.value})")
            continue
        try:
            record = await render_route(site, route, built_at, out, config.expire)
        except BuildWriteFailed:
            raise
        except Exception as exc:
            failures += 1
            reason = f"{type(exc).__name__}: {exc}"
            records[route.path] = RouteRecord(
                path=route.path, pattern=route.pattern, status=RouteStatus.ERROR, reason=reason
            )
            print(f"  [{n}/{total}] {route.path}: ERROR {reason}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            continue
        records[route.path] = record
        sizes = ", ".join(f"{v.value} {r.bytes} B" for v, r in record.variants.items())
        print(f"  [{n}/{total}] {route.path}: rendered ({sizes})")
    manifest = PrerenderManifest(
        build_id=build_id,
        built_at=built_at,
        base_path=config.base_path,
        trailing_slash=config.trailing_slash,
        routes=records,
    )
    return manifest, failures


async def write_build(site: Renderer, config: SiteConfig, out: Path) -> int:
    """Render into a staging directory beside `out`, then swap it in; the exit code."""
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
    except OSError as exc:
        return cannot_write(out, exc)
    try:
        manifest, failures = await build(site, config, staging)
        write_file(staging / MANIFEST_FILE, manifest.to_json().encode("utf-8"))
        swap_in(staging, out)
    except (BuildWriteFailed, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return cannot_write(out, exc)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    rendered = sum(r.status is RouteStatus.RENDERED for r in manifest.routes.values())
    print(
        f"prerender: {rendered} rendered, "
        f"{sum(r.status is RouteStatus.SKIPPED for r in manifest.routes.values())} skipped, "
        f"{failures} failed; manifest {out / MANIFEST_FILE}"
    )
    if failures:
        failed = [p for p, r in manifest.routes.items() if r.status is RouteStatus.ERROR]
        print(f"prerender: failed routes: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def swap_in(staging: Path, out: Path) -> None:
    """Replace `out` with `staging`; if the second rename fails, put `out` back."""
    if not out.exists():
        staging.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    try:
        staging.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def cannot_write(out: Path, exc: BaseException) -> int:
    print(
        f"prerender: error: could not write the build: {exc} ({out} is left as it was)",
        file=sys.stderr,
    )
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render every prerenderable route of the site into a build directory.",
        epilog="Exit codes: 0 all rendered, 1 a route failed (named above), 2 usage, "
        "3 the build could not be written (named above; the previous build is kept).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "build",
        help="build directory to (re)create (default: ./build)",
    )
    args = parser.parse_args(argv)
    from app import SITE, SITE_CONFIG

    return asyncio.run(write_build(SITE, SITE_CONFIG, args.out))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Copy a prerender build into the static assets directory, under `__prerender/`.

    python scripts/copy_prerender.py BUILD_DIR ASSETS_DIR [--layout sharded|manifest|both]

Layouts (the Worker's `SEED_INDEX` var must name the one it reads):

- `sharded` (default): `meta/build.json`, `index/<shard>.json` and
  `packs/<shard>/<pack>.bin`, as `seeding.layout` plans them from the manifest. A cold
  seed then reads build.json (once per isolate), one shard of ~128 routes and one pack
  of two routes' bodies, whatever the site's size; 100,000 routes with HTML and data
  variants need ~51,200 files instead of 200,000. The manifest is not shipped: it is
  the build's listing, validated here, and no part of the run time reads it (shipping
  it would also cap a site at a 25 MiB manifest).
- `manifest`: `meta/manifest.json` plus one file per route variant, as the build has
  them: the baseline, which a Worker with `SEED_INDEX = "manifest"` reads.
- `both`: everything above, so either Worker setting can run against one deploy.

- Validates first: the manifest parses against the schema, every file it lists exists
  as a regular file of the listed size, none is over 25 MiB, and the assets directory
  stays within the platform's file limits, counting the files this layout will upload
  (a warning near 20,000 files, the Free plan; a refusal over 100,000, the Paid plan).
- Writes only what the manifest lists, into a staging directory beside ASSETS_DIR,
  then swaps it in: the previous `__prerender/` is replaced whole (no file of an older
  build survives) and an interrupted copy leaves it intact.
- Never writes outside `ASSETS_DIR/__prerender/`: absolute paths, `..` and symlinks
  are refused.

Exit codes: 0 done; 1 invalid input (the message names the file, the field and the
fix); 2 usage.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from seeding.layout import (  # noqa: E402
    BUILD_FILE,
    LayoutPlan,
    pack_file,
    plan_layout,
    shard_file,
)
from seeding.manifest import (  # noqa: E402
    MAX_ASSET_BYTES,
    ManifestError,
    PrerenderManifest,
    parse_manifest,
)
from seeding.routes import MANIFEST_FILE, PRERENDER_DIR  # noqa: E402

FREE_PLAN_FILES = 20_000
PAID_PLAN_FILES = 100_000
WARN_FILES = 18_000
STAGING_PREFIX = f".{PRERENDER_DIR}-staging-"
OLD_PREFIX = f".{PRERENDER_DIR}-old-"
LAYOUTS = ("sharded", "manifest", "both")
DEFAULT_LAYOUT = "sharded"


class InvalidInput(Exception):
    """Bad input: exit code 1 with this message."""


def safe_relative(relative: str, where: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if (
        path.is_absolute()
        or "\\" in relative
        or any(p in ("..", ".", "") for p in relative.split("/"))
    ):
        raise InvalidInput(
            f"{where}: {relative!r} is not a plain relative path "
            "(absolute paths and '..' are refused)"
        )
    return path


def regular_file(root: Path, relative: PurePosixPath, where: str) -> os.stat_result:
    """lstat every component: a symlink anywhere on the way is refused."""
    current = root
    for part in relative.parts:
        current = current / part
        try:
            st = current.lstat()
        except FileNotFoundError:
            raise InvalidInput(
                f"{where}: {current} does not exist (re-run scripts/prerender.py)"
            ) from None
        if stat.S_ISLNK(st.st_mode):
            raise InvalidInput(f"{where}: {current} is a symlink; refused")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{where}: {current} is not a regular file")
    return st


def load_build(build_dir: Path, *, ship_manifest: bool = True) -> PrerenderManifest:
    if not build_dir.is_dir():
        raise InvalidInput(
            f"{build_dir}: build directory not found "
            f"(run scripts/prerender.py --out {build_dir} first)"
        )
    manifest_path = build_dir / MANIFEST_FILE
    st = regular_file(build_dir, PurePosixPath(MANIFEST_FILE), "manifest")
    if ship_manifest and st.st_size > MAX_ASSET_BYTES:
        raise InvalidInput(
            f"{manifest_path}: {st.st_size} bytes, over the 25 MiB asset limit "
            "(use --layout sharded, which does not ship the manifest)"
        )
    try:
        return parse_manifest(manifest_path.read_bytes(), str(manifest_path))
    except ManifestError as exc:
        raise InvalidInput(str(exc)) from None


def validate_files(build_dir: Path, manifest: PrerenderManifest) -> list[PurePosixPath]:
    files: list[PurePosixPath] = []
    seen: set[str] = set()
    for route, record in manifest.routes.items():
        for variant, info in record.variants.items():
            where = f"{build_dir / MANIFEST_FILE}: routes[{route!r}].variants.{variant.value}"
            if info.file in seen:
                raise InvalidInput(f"{where}.file: {info.file!r} is listed twice")
            seen.add(info.file)
            relative = safe_relative(info.file, f"{where}.file")
            st = regular_file(build_dir, relative, f"{where}.file")
            if st.st_size > MAX_ASSET_BYTES:
                raise InvalidInput(
                    f"{build_dir / relative}: {st.st_size} bytes, over the "
                    "25 MiB static-asset limit (make the page smaller)"
                )
            if st.st_size != info.bytes:
                raise InvalidInput(
                    f"{where}.bytes: the manifest says {info.bytes}, the file has "
                    f"{st.st_size} (re-run scripts/prerender.py)"
                )
            files.append(relative)
    return files


def count_public_files(assets_dir: Path) -> int:
    """Files the deploy uploads besides ours: everything but the old prerender copy."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(assets_dir):
        if Path(dirpath) == assets_dir:
            dirnames[:] = [d for d in dirnames if d != PRERENDER_DIR]
        count += len(filenames)
    return count


def check_file_limits(assets_dir: Path, new_files: int) -> None:
    total = count_public_files(assets_dir) + new_files
    if total > PAID_PLAN_FILES:
        raise InvalidInput(
            f"{assets_dir}: {total} files after the copy, over the "
            f"{PAID_PLAN_FILES} static assets a version may have "
            "(prerender fewer routes)"
        )
    if total > WARN_FILES:
        print(
            f"copy: warning: {assets_dir} will hold {total} files; the Free plan allows "
            f"{FREE_PLAN_FILES} per version, the Paid plan {PAID_PLAN_FILES}",
            file=sys.stderr,
        )


def check_target(assets_dir: Path) -> Path:
    if not assets_dir.exists():
        raise InvalidInput(
            f"{assets_dir}: assets directory not found "
            "(create it, or check [assets] directory in wrangler.toml)"
        )
    if assets_dir.is_symlink() or not assets_dir.is_dir():
        raise InvalidInput(f"{assets_dir}: must be a real directory, not a symlink or file")
    target = assets_dir / PRERENDER_DIR
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InvalidInput(f"{target}: exists and is not a directory; remove it and run again")
    return target


def recover_interrupted_swap(assets_dir: Path, target: Path) -> None:
    """A run killed between its two renames leaves the previous copy under an
    `.old` name beside the assets dir; put it back before anything else."""
    parent = assets_dir.resolve().parent
    leftovers = sorted(parent.glob(f"{OLD_PREFIX}*"))
    if not target.exists() and leftovers:
        leftovers[-1].rename(target)
        print(f"copy: restored the previous {target} from an interrupted run")
        leftovers = leftovers[:-1]
    for leftover in [*leftovers, *parent.glob(f"{STAGING_PREFIX}*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def plan_files(manifest: PrerenderManifest, layout: str) -> tuple[int, LayoutPlan | None]:
    """How many files `layout` uploads for `manifest`, and the sharded plan if any.
    Pure (reads and writes nothing), so a 100,000-route site can be sized cheaply."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"--layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    count = 0
    plan = None
    if layout in ("manifest", "both"):
        count += 1 + sum(len(r.variants) for r in manifest.routes.values())
    if layout in ("sharded", "both"):
        plan = plan_layout(manifest)
        count += plan.file_count
    return count, plan


def emit_file(destination: Path, content: bytes | Path) -> None:
    """Every write into staging goes through here: a copy of a build file, or bytes."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, destination, follow_symlinks=False)
        else:
            destination.write_bytes(content)
    except OSError as exc:
        if exc.filename is None:  # a failed write() (e.g. ENOSPC) names no file
            exc.filename = str(destination)
        raise


def read_listed(build_dir: Path, relative: str, size: int, where: str) -> bytes:
    """A listed file's bytes, checked again against its listed size (it may have
    changed since validation)."""
    path = build_dir / relative
    with path.open("rb") as f:
        data = f.read(size + 1)
    if len(data) != size:
        raise InvalidInput(
            f"{where}: {path} has {len(data)} bytes now, the manifest says {size} "
            "(the build changed during the copy; re-run scripts/prerender.py)"
        )
    return data


def write_sharded(build_dir: Path, plan: LayoutPlan, staging: Path, progress: Progress) -> None:
    for shard in plan.shards:
        for n, pack in enumerate(shard.packs):
            chunks = [
                read_listed(
                    build_dir,
                    part.source.file,
                    part.source.bytes,
                    f"routes[{part.route!r}].variants.{part.variant.value}",
                )
                for part in pack.parts
            ]
            emit_file(staging / pack_file(shard.shard, n), b"".join(chunks))
            progress.step()
        text = shard.to_json(plan.layout).encode("utf-8")
        if len(text) > MAX_ASSET_BYTES:
            raise InvalidInput(
                f"{shard_file(shard.shard)}: {len(text)} bytes, over the 25 MiB asset limit "
                "(routes with very long keys or header sets; prerender fewer routes)"
            )
        emit_file(staging / shard_file(shard.shard), text)
        progress.step()
    emit_file(staging / BUILD_FILE, plan.layout.to_json().encode("utf-8"))
    progress.step()


class Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if self.done % 1000 == 0:
            print(f"copy: {self.done}/{self.total} files")


def copy_build(build_dir: Path, assets_dir: Path, layout: str = DEFAULT_LAYOUT) -> int:
    if layout not in LAYOUTS:
        raise InvalidInput(f"--layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    manifest = load_build(build_dir, ship_manifest=layout != "sharded")
    files = validate_files(build_dir, manifest)
    target = check_target(assets_dir)
    count, plan = plan_files(manifest, layout)
    check_file_limits(assets_dir, count)
    recover_interrupted_swap(assets_dir, target)
    total_bytes = sum(r.bytes for r in manifest.files())
    shape = f"layout {layout}"
    if plan is not None:
        shape += f" ({plan.layout.shards} shards, {plan.pack_count} packs)"
    print(
        f"copy: build {manifest.build_id}: {len(manifest.routes)} routes, {shape}, "
        f"{count} files, {total_bytes / 1e6:.1f} MB of pages -> {target}"
    )

    # Staging lives beside the assets dir (same file system, so the swap is a rename)
    # and outside it, so an interrupted run never leaves files a deploy would upload.
    parent = assets_dir.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    progress = Progress(count)
    try:
        if layout in ("manifest", "both"):
            for relative in [PurePosixPath(MANIFEST_FILE), *files]:
                emit_file(staging / relative, build_dir / relative)
                progress.step()
        if plan is not None:
            write_sharded(build_dir, plan, staging, progress)
        swap_in(staging, target, parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"copy: done, {target} now holds build {manifest.build_id} ({layout})")
    return 0


def swap_in(staging: Path, target: Path, parent: Path) -> None:
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX, dir=parent))
        old.rmdir()
        target.rename(old)
        try:
            staging.rename(target)
        except BaseException:
            old.rename(target)  # put the previous copy back before reporting
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Copy a prerender build into ASSETS_DIR/__prerender/, replacing the "
        "previous copy whole.",
        epilog="Exit codes: 0 done, 1 invalid input, 2 usage.",
    )
    parser.add_argument("build_dir", type=Path, help="output of scripts/prerender.py")
    parser.add_argument(
        "assets_dir", type=Path, help="the [assets] directory of wrangler.toml (e.g. ./public)"
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=DEFAULT_LAYOUT,
        help="sharded (default): build.json + index shards + packs, for any site size; "
        "manifest: the manifest + one file per route variant (the baseline); both. "
        "The Worker's SEED_INDEX var must match.",
    )
    args = parser.parse_args(argv)
    try:
        return copy_build(args.build_dir, args.assets_dir, args.layout)
    except InvalidInput as exc:
        print(f"copy: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"copy: error: {exc} (the previous copy is left as it was)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # A short batch run whose big manifest lives to the end: without the cyclic GC
    # walking its million objects again and again, planning 100,000 routes takes
    # half the time. Nothing here makes cyclic garbage worth collecting.
    gc.disable()
    sys.exit(main())

#!/usr/bin/env python3
"""Copy a prerender build into the static assets directory, under `__prerender/`.

    python scripts/copy_prerender.py BUILD_DIR ASSETS_DIR

- Validates first: the manifest parses against the schema, every file it lists exists
  as a regular file of the listed size, none is over 25 MiB, and the assets directory
  stays within the platform's file limits (a warning near 20,000 files, the Free plan;
  a refusal over 100,000, the Paid plan).
- Copies only what the manifest lists, into a staging directory beside ASSETS_DIR,
  then swaps it in: the previous `__prerender/` is replaced whole (no file of an older
  build survives) and an interrupted copy leaves it intact.
- Never writes outside `ASSETS_DIR/__prerender/`: absolute paths, `..` and symlinks
  are refused.

Exit codes: 0 done; 1 invalid input (the message names the file, the field and the
fix); 2 usage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

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


def load_build(build_dir: Path) -> PrerenderManifest:
    if not build_dir.is_dir():
        raise InvalidInput(
            f"{build_dir}: build directory not found "
            "(run scripts/prerender.py --out {build_dir} first)"
        )
    manifest_path = build_dir / MANIFEST_FILE
    st = regular_file(build_dir, PurePosixPath(MANIFEST_FILE), "manifest")
    if st.st_size > MAX_ASSET_BYTES:
        raise InvalidInput(f"{manifest_path}: {st.st_size} bytes, over the 25 MiB asset limit")
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


def copy_build(build_dir: Path, assets_dir: Path) -> int:
    manifest = load_build(build_dir)
    files = validate_files(build_dir, manifest)
    target = check_target(assets_dir)
    check_file_limits(assets_dir, len(files) + 1)
    recover_interrupted_swap(assets_dir, target)
    total_bytes = sum(r.bytes for r in manifest.files())
    print(
        f"copy: build {manifest.build_id}: {len(manifest.routes)} routes, {len(files)} files, "
        f"{total_bytes / 1e6:.1f} MB -> {target}"
    )

    # Staging lives beside the assets dir (same file system, so the swap is a rename)
    # and outside it, so an interrupted run never leaves files a deploy would upload.
    parent = assets_dir.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    try:
        for n, relative in enumerate([PurePosixPath(MANIFEST_FILE), *files], 1):
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(build_dir / relative, destination, follow_symlinks=False)
            if n % 1000 == 0:
                print(f"copy: {n}/{len(files) + 1} files")
        swap_in(staging, target, parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"copy: done, {target} now holds build {manifest.build_id}")
    return 0


def swap_in(staging: Path, target: Path, parent: Path) -> None:
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX, dir=parent))
        old.rmdir()
        target.rename(old)
        staging.rename(target)
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
    args = parser.parse_args(argv)
    try:
        return copy_build(args.build_dir, args.assets_dir)
    except InvalidInput as exc:
        print(f"copy: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"copy: error: {exc} (the previous copy is left as it was)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

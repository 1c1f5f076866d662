"""The copy step: turn a prerender build into what the Worker deploys with: its packs
under `<assets>/__prerender/packs/` (`seeding.seed.packs`) and its build identity, a module
written next to the Worker's main module (`seeding.seed.build_identity`).

- Validates first: the manifest parses against its schema, every file it lists exists
  as a regular file (no symlink on the way) of the listed size and within the 25 MiB
  asset limit, and the assets directory stays within the platform's file limits with
  the files this build adds (a warning near the Free plan's 20,000, a refusal over the
  Paid plan's 100,000).
- Writes the packs into a staging directory beside ASSETS_DIR and swaps it in for the
  previous `__prerender/` whole (`files.Swap`): no file of an older build survives, and
  an interrupted copy leaves the previous one intact. Never writes elsewhere in
  ASSETS_DIR. Then replaces the identity module in one rename. Between the two the
  Worker and the assets disagree on the build id; the Worker then refuses the packs
  and renders, never serving another build's page.

Errors raise `InvalidInput` with a message naming the file, the field and the fix.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seeding.build.files import Swap, write_atomic, write_file
from seeding.build.manifest import MANIFEST_FILE, PrerenderManifest, parse_manifest
from seeding.build.plan import PackPlan, Placed, encode_part, plan_packs
from seeding.routes import PRERENDER_DIR
from seeding.schema import MAX_ASSET_BYTES, SchemaError
from seeding.seed.build_identity import BUILD_MODULE
from seeding.seed.packs import pack_file

FREE_PLAN_FILES = 20_000
PAID_PLAN_FILES = 100_000
WARN_FILES = 18_000
PROGRESS_EVERY = 1000


class InvalidInput(Exception):
    """Bad input: the message names the file, the field and the fix."""


@dataclass(frozen=True)
class CopyResult:
    manifest: PrerenderManifest
    plan: PackPlan
    target: Path
    module: Path


def safe_relative(relative: str, where: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if (
        path.is_absolute()
        or "\\" in relative
        or any(p in ("..", ".", "") for p in relative.split("/"))
    ):
        raise InvalidInput(
            f"{where}: {relative!r} is not a plain relative path (absolute paths and '..' "
            "are refused)"
        )
    return path


def regular_file(root: Path, relative: PurePosixPath, where: str) -> os.stat_result:
    """lstat every component: a symlink anywhere on the way is refused."""
    current = root
    st = None
    for part in relative.parts:
        current = current / part
        try:
            st = current.lstat()
        except FileNotFoundError:
            raise InvalidInput(
                f"{where}: {current} does not exist (re-run the prerender step)"
            ) from None
        if stat.S_ISLNK(st.st_mode):
            raise InvalidInput(f"{where}: {current} is a symlink; refused")
    if st is None or not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{where}: {current} is not a regular file")
    return st


def load_build(build_dir: Path) -> PrerenderManifest:
    if not build_dir.is_dir():
        raise InvalidInput(
            f"{build_dir}: build directory not found (run the prerender step with "
            f"--out {build_dir} first)"
        )
    regular_file(build_dir, PurePosixPath(MANIFEST_FILE), "manifest")
    path = build_dir / MANIFEST_FILE
    try:
        return parse_manifest(path.read_bytes(), str(path))
    except SchemaError as exc:
        raise InvalidInput(str(exc)) from None


def validate_files(build_dir: Path, manifest: PrerenderManifest) -> None:
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
                    f"{build_dir / relative}: {st.st_size} bytes, over the 25 MiB static-asset "
                    "limit (make the page smaller)"
                )
            if st.st_size != info.bytes:
                raise InvalidInput(
                    f"{where}.bytes: the manifest says {info.bytes}, the file has "
                    f"{st.st_size} (re-run the prerender step)"
                )


def count_public_files(assets_dir: Path) -> int:
    """Files the deploy uploads besides ours: everything but the old prerender copy."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(assets_dir):
        if Path(dirpath) == assets_dir:
            dirnames[:] = [d for d in dirnames if d != PRERENDER_DIR]
        count += len(filenames)
    return count


def check_file_limits(assets_dir: Path, new_files: int, warn: Callable[[str], None]) -> None:
    total = count_public_files(assets_dir) + new_files
    if total > PAID_PLAN_FILES:
        raise InvalidInput(
            f"{assets_dir}: {total} files after the copy, over the {PAID_PLAN_FILES} static "
            "assets a version may have (prerender fewer routes)"
        )
    if total > WARN_FILES:
        warn(
            f"copy: warning: {assets_dir} will hold {total} files; the Free plan allows "
            f"{FREE_PLAN_FILES} per version, the Paid plan {PAID_PLAN_FILES}"
        )


def check_target(assets_dir: Path) -> Path:
    if not assets_dir.exists():
        raise InvalidInput(
            f"{assets_dir}: assets directory not found (create it, or check [assets] "
            "directory in wrangler.toml)"
        )
    if assets_dir.is_symlink() or not assets_dir.is_dir():
        raise InvalidInput(f"{assets_dir}: must be a real directory, not a symlink or file")
    target = assets_dir / PRERENDER_DIR
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InvalidInput(f"{target}: exists and is not a directory; remove it and run again")
    return target


def check_worker_dir(worker_dir: Path) -> Path:
    if not worker_dir.is_dir():
        raise InvalidInput(
            f"{worker_dir}: the Worker's source folder (where its main module lives) not "
            "found (pass --worker-dir, or run from the folder holding wrangler.toml)"
        )
    return worker_dir / f"{BUILD_MODULE}.py"


def read_listed(build_dir: Path, placed: Placed) -> bytes:
    """A listed body, checked again against its size (it may have changed since)."""
    path = build_dir / placed.source.file
    with path.open("rb") as f:
        data = f.read(placed.source.bytes + 1)
    if len(data) != placed.source.bytes:
        raise InvalidInput(
            f"routes[{placed.route!r}].variants.{placed.variant.value}: {path} has "
            f"{len(data)} bytes now, the manifest says {placed.source.bytes} (the build "
            "changed during the copy; re-run the prerender step)"
        )
    return data


def copy_build(
    build_dir: Path,
    assets_dir: Path,
    worker_dir: Path,
    *,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> CopyResult:
    manifest = load_build(build_dir)
    validate_files(build_dir, manifest)
    target = check_target(assets_dir)
    module = check_worker_dir(worker_dir)
    plan = plan_packs(manifest)
    check_file_limits(assets_dir, plan.file_count, warn)
    swap = Swap(target, assets_dir.resolve().parent)
    if swap.recover():
        say(f"copy: restored the previous {target} from an interrupted run")
    total_bytes = sum(r.bytes for r in manifest.files())
    say(
        f"copy: build {manifest.build_id}: {len(manifest.routes)} routes, {plan.routes} "
        f"prerendered in {plan.buckets} buckets, {plan.file_count} files, "
        f"{total_bytes / 1e6:.1f} MB of pages -> {target}"
    )
    staging = swap.staging()
    try:
        written = 0
        for bucket in plan.plans:
            for part in range(len(bucket.parts)):
                data = encode_part(
                    plan, bucket, part, lambda placed: read_listed(build_dir, placed)
                )
                if len(data) > MAX_ASSET_BYTES:
                    raise InvalidInput(
                        f"{pack_file(bucket.bucket, part)}: {len(data)} bytes, over the 25 MiB "
                        "asset limit (routes with very long keys or many tags; prerender fewer)"
                    )
                write_file(staging / pack_file(bucket.bucket, part), data)
                written += 1
                if written % PROGRESS_EVERY == 0:
                    say(f"copy: {written}/{plan.file_count} files")
        swap.swap_in(staging)
    except BaseException:
        _remove(staging)
        raise
    write_atomic(module, plan.build_module())
    say(f"copy: done, {target} and {module} now hold build {manifest.build_id}")
    return CopyResult(manifest, plan, target, module)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

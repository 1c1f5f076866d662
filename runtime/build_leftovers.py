"""Run a command that builds Python packages in their own folders (pip installing a local
folder, editable or not), then remove what that build added there: setuptools' `*.egg-info`
beside the packages (the folder or its `src/`) and `build/lib`, `build/bdist.*` (or a whole
`build/` it made). What was there before stays, so a prerender's `build/` or a user's own
egg-info is never touched.

Why: wrangler uploads every `*.py` under a Python Worker's main folder and, as modules, its
`*.txt` files too; `pip install -e .` on this repository leaves `src/<name>.egg-info/` (four
`.txt` files) beside the Worker's code, which would then go up with every deploy.

    python -m runtime.build_leftovers --folder . -- .venv/bin/python -m pip install -e .

The command's exit code is passed on; cleaning happens whether it succeeds or not.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def build_outputs(folder: Path) -> set[Path]:
    """Where a setuptools build of `folder` writes: its `*.egg-info` (beside the packages:
    the folder or its src/) and `build/` (lib/, lib.*/, bdist.*/)."""
    found: set[Path] = set()
    for parent in (folder, folder / "src"):
        if parent.is_dir():
            found.update(p for p in parent.iterdir() if p.name.endswith(".egg-info"))
    build = folder / "build"
    if build.is_dir():
        found.add(build)
        found.update(p for p in build.iterdir() if p.name.startswith(("lib", "bdist.")))
    return found


@contextlib.contextmanager
def no_build_leftovers(folders: list[Path]) -> Iterator[None]:
    """Remove what a build inside the block added to `folders` (`build_outputs`)."""
    before = {folder: build_outputs(folder) for folder in folders}
    try:
        yield
    finally:
        for folder, existing in before.items():
            for path in sorted(build_outputs(folder) - existing):  # a parent before its children
                shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.build_leftovers",
        description=(
            "Run COMMAND, then remove the *.egg-info and build/ output it added to each "
            "--folder (pip builds local packages in place). Exits with COMMAND's code."
        ),
        epilog="example: python -m runtime.build_leftovers --folder . -- pip install -e .",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        action="append",
        default=[],
        help="a local package folder the command builds (repeat for several)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command: put it after --")
    missing = [str(f) for f in args.folder if not f.is_dir()]
    if missing:
        parser.error(f"--folder {', '.join(missing)}: not a folder")
    with no_build_leftovers([f.resolve() for f in args.folder]):
        try:
            return subprocess.run(command).returncode
        except OSError as err:
            print(f"build_leftovers: cannot run {command[0]}: {err}", file=sys.stderr)
            return 127


if __name__ == "__main__":
    sys.exit(main())

"""Writing build outputs so that a failure never leaves half of them: everything is
written into a staging directory, then swapped in for the previous output with two
renames, the previous output is put back if the second rename fails, and a run killed
between the two renames is recovered by the next one. Staging and parking live in a
directory the caller chooses (beside the output, outside anything a deploy uploads).

A write that fails raises `OutputError` naming the path it was writing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class OutputError(Exception):
    """An output could not be written (a full or read-only disk): the message names
    the path; the previous output is left as it was."""


def write_file(target: Path, content: bytes | Path) -> None:
    """Write `content` (bytes, or a file to copy) to `target`, making its parents."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target, follow_symlinks=False)
        else:
            target.write_bytes(content)
    except OSError as exc:
        if exc.filename is None:  # a failed write() (e.g. ENOSPC) names no file
            exc.filename = str(target)
        raise OutputError(str(exc)) from exc


def write_atomic(target: Path, text: str) -> None:
    """Replace the file `target` with `text` in one rename: readers see the old
    content or the new, never part of it."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o644)  # mkstemp makes it private; it is source code to deploy
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc}") from exc


class Swap:
    """Staging for replacing the directory `target` whole, parked in `parking`."""

    def __init__(self, target: Path, parking: Path) -> None:
        self.target = target
        self.parking = parking
        self._staging_prefix = f".{target.name}-staging-"
        self._old_prefix = f".{target.name}-old-"

    def recover(self) -> bool:
        """Put back a previous output that a killed run left parked, and remove the
        leftovers of interrupted runs; True when something was put back."""
        leftovers = sorted(self.parking.glob(f"{self._old_prefix}*"))
        restored = False
        if not self.target.exists() and leftovers:
            leftovers[-1].rename(self.target)
            leftovers = leftovers[:-1]
            restored = True
        for leftover in [*leftovers, *self.parking.glob(f"{self._staging_prefix}*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        return restored

    def staging(self) -> Path:
        try:
            self.parking.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=self._staging_prefix, dir=self.parking))
        except OSError as exc:
            raise OutputError(f"cannot create a staging directory in {self.parking}: {exc}") from (
                exc
            )

    def swap_in(self, staging: Path) -> None:
        """Replace the target with `staging`; if the second rename fails, put the
        previous target back before raising."""
        if not self.target.exists():
            staging.rename(self.target)
            return
        old = Path(tempfile.mkdtemp(prefix=self._old_prefix, dir=self.parking))
        old.rmdir()
        self.target.rename(old)
        try:
            staging.rename(self.target)
        except BaseException:
            old.rename(self.target)
            raise
        shutil.rmtree(old, ignore_errors=True)

"""The build scripts under failure: a missing or partial build directory, a manifest
naming a missing file, a read-only or full destination, a swap that fails halfway, a
run interrupted halfway. Each ends with a message naming the path and a non-zero
exit, and the previous output stays intact AND servable: a fresh Worker isolate over
it still seeds pages from it. (test_build_scripts.py has the basic refusals and the
Ctrl-C / SIGKILL runs; these add the failure modes and the serving check.)
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import seeding.build.copy as copy_module
from seeding.build.cli import copy_main
from seeding.build.manifest import MANIFEST_FILE, variant_file
from seeding.build.prerender import write_build
from seeding.routes import Variant
from tests.unit.fakes import FakeClock, FakeSite
from tests.unit.support import Deploy, Isolate, identity_of, prerender


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


async def assert_servable(public: Path, worker: Path, build_id: str) -> None:
    """A fresh isolate over this deploy seeds pages from it: no render, the build's bytes."""
    isolate = Isolate(Deploy(public, worker, None))  # type: ignore[arg-type]
    for path in ["/about", "/blog/first.json", "/"]:
        response = await isolate.request(path)
        assert response.status == 200, path
        assert response.headers["x-cache-status"] == "HIT", path
        assert b"build" in response.body, path
    assert isolate.site.renders == []
    assert identity_of(worker / "prerender_build.py").build_id == build_id


# -- simulated file system failures ------------------------------------------------------


def _inside(path: Any, directory: Path) -> bool:
    try:
        resolved = Path(os.fsdecode(path)).resolve()
    except (TypeError, ValueError):
        return False
    return directory in resolved.parents


def _writes(mode: str) -> bool:
    return any(c in mode for c in "wax+")


@contextmanager
def read_only(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make `directory` unwritable: nothing can be created, renamed or removed in it.

    With chmod 0o555 when that works. The tests run as root, which ignores file
    modes, and a read-only mount needs privileges a test does not have; then every
    write under `directory` fails with EROFS, as a read-only file system answers
    (os.mkdir, os.rename, os.replace, os.unlink, os.rmdir, opening for writing).
    """
    directory = directory.resolve()
    directory.chmod(0o555)
    probe = directory / ".write-probe"
    try:
        probe.mkdir()
    except PermissionError:
        try:
            yield "chmod"
        finally:
            directory.chmod(0o755)
        return
    probe.rmdir()
    directory.chmod(0o755)

    def erofs(path: Any, path2: Any = None) -> OSError:
        second = os.fsdecode(path2) if path2 is not None else None
        return OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path), None, second)

    def guard1(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(path: Any, *args: Any, **kw: Any) -> Any:
            if kw.get("dir_fd") is None and _inside(path, directory):
                raise erofs(path)
            return real(path, *args, **kw)

        return wrapper

    def guard2(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(src: Any, dst: Any, *args: Any, **kw: Any) -> Any:
            if _inside(src, directory) or _inside(dst, directory):
                raise erofs(src, dst)
            return real(src, dst, *args, **kw)

        return wrapper

    def guard_open(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
            if not isinstance(file, int) and _writes(mode) and _inside(file, directory):
                raise erofs(file)
            return real(file, mode, *args, **kw)

        return wrapper

    for name in ("mkdir", "unlink", "rmdir", "remove"):
        monkeypatch.setattr(os, name, guard1(getattr(os, name)))
    for name in ("rename", "replace"):
        monkeypatch.setattr(os, name, guard2(getattr(os, name)))
    monkeypatch.setattr(builtins, "open", guard_open(builtins.open))
    monkeypatch.setattr(io, "open", guard_open(io.open))
    yield "simulated"


def disk_full_after(files: int, under: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """The file system under `under` fills up: after `files` files have been written
    there, writing another fails with ENOSPC, naming no file (as a failed write()
    does). Covers both ways the scripts write: Path.write_bytes/write_text and
    shutil.copyfile."""
    under = under.resolve()
    written = [0]

    def full(destination: Any) -> bool:
        if not _inside(destination, under):
            return False
        if written[0] >= files:
            return True
        written[0] += 1
        return False

    def no_space() -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_write_bytes, real_write_text = Path.write_bytes, Path.write_text
    real_copyfile = shutil.copyfile

    def write_bytes(self: Path, data: bytes) -> int:
        if full(self):
            raise no_space()
        return real_write_bytes(self, data)

    def write_text(self: Path, data: str, *args: Any, **kw: Any) -> int:
        if full(self):
            raise no_space()
        return real_write_text(self, data, *args, **kw)

    def copyfile(src: Any, dst: Any, *args: Any, **kw: Any) -> Any:
        if full(dst):
            raise no_space()
        return real_copyfile(src, dst, *args, **kw)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    return lambda: written[0]


# -- copy_prerender.py -------------------------------------------------------------------


@pytest.fixture
async def deployed(tmp_path: Path) -> dict[str, Any]:
    """build1 copied into public/ and the Worker's src/, and a newer build2."""
    build1 = await prerender(FakeSite(), tmp_path / "build1", FakeClock())
    build2 = await prerender(FakeSite(), tmp_path / "build2", FakeClock(2e9))
    public = tmp_path / "work" / "public"
    public.mkdir(parents=True)
    (public / "styles.css").write_text("body{}")
    worker = tmp_path / "work-src"
    worker.mkdir()
    assert copy_main([str(build1), str(public), "--worker-dir", str(worker)]) == 0
    manifest = json.loads((build1 / MANIFEST_FILE).read_text())
    return {
        "build1": build1,
        "build2": build2,
        "build1_id": manifest["buildId"],
        "public": public,
        "worker": worker,
        "target": public / "__prerender",
        "before": snapshot(public),
        "module": (worker / "prerender_build.py").read_text(),
    }


async def assert_previous_copy_intact(d: dict[str, Any]) -> None:
    assert snapshot(d["public"]) == d["before"]
    assert leftovers(d["public"].parent) == []
    assert (d["worker"] / "prerender_build.py").read_text() == d["module"]
    await assert_servable(d["public"], d["worker"], d["build1_id"])


def run_copy(d: dict[str, Any], build: Path | None = None) -> int:
    build = d["build2"] if build is None else build
    return copy_main([str(build), str(d["public"]), "--worker-dir", str(d["worker"])])


def break_missing_build_dir(d: dict[str, Any]) -> tuple[Path, list[str]]:
    missing = d["build2"].parent / "no-such-build"
    return missing, [f"{missing}: build directory not found", f"--out {missing} first"]


def break_manifest_missing(d: dict[str, Any]) -> tuple[Path, list[str]]:
    (d["build2"] / MANIFEST_FILE).unlink()
    return d["build2"], [f"{d['build2'] / MANIFEST_FILE} does not exist"]


def break_route_files_missing(d: dict[str, Any]) -> tuple[Path, list[str]]:
    shutil.rmtree(d["build2"] / "routes")
    return d["build2"], [str(d["build2"] / "routes"), "does not exist", "variants"]


def break_manifest_names_a_missing_file(d: dict[str, Any]) -> tuple[Path, list[str]]:
    path = d["build2"] / MANIFEST_FILE
    doc = json.loads(path.read_text())
    record = json.loads(json.dumps(doc["routes"]["/about"]))
    for name, variant in (("html", Variant.HTML), ("data", Variant.DATA)):
        record["variants"][name]["file"] = variant_file("/extra", variant)
    doc["routes"]["/extra"] = record
    path.write_text(json.dumps(doc))
    missing = d["build2"] / variant_file("/extra", Variant.HTML)
    return d["build2"], ["routes['/extra'].variants.html.file", f"{missing.parent}"]


BROKEN_INPUTS = {
    "missing build dir": break_missing_build_dir,
    "partial build: manifest missing": break_manifest_missing,
    "partial build: route files missing": break_route_files_missing,
    "manifest names a missing file": break_manifest_names_a_missing_file,
}


@pytest.mark.parametrize("case", list(BROKEN_INPUTS))
async def test_copy_refuses_broken_build_output_and_keeps_the_previous_copy_servable(
    deployed: dict[str, Any], case: str, capsys
) -> None:
    build, expected = BROKEN_INPUTS[case](deployed)
    assert run_copy(deployed, build) == 1
    err = capsys.readouterr().err
    assert err.startswith("copy: error: ")
    for text in expected:
        assert text in err, (text, err)
    await assert_previous_copy_intact(deployed)


async def test_copy_into_a_read_only_assets_parent_fails_naming_it(
    deployed: dict[str, Any], capsys, monkeypatch
) -> None:
    # Staging is made beside the assets dir, so its parent must be writable.
    parent = deployed["public"].parent
    with read_only(parent, monkeypatch):
        assert run_copy(deployed) == 1
    err = capsys.readouterr().err
    assert str(parent) in err and ("Read-only" in err or "Permission denied" in err), err
    await assert_previous_copy_intact(deployed)


async def test_copy_into_a_read_only_assets_dir_fails_naming_it(
    deployed: dict[str, Any], capsys, monkeypatch
) -> None:
    with read_only(deployed["public"], monkeypatch):
        assert run_copy(deployed) == 1
    err = capsys.readouterr().err
    assert str(deployed["target"]) in err, err
    assert "left as it was" in err
    await assert_previous_copy_intact(deployed)


@pytest.mark.parametrize("after", [0, 1])  # the first pack, the second
async def test_copy_onto_a_full_disk_fails_naming_the_file_it_was_writing(
    deployed: dict[str, Any], after: int, capsys, monkeypatch
) -> None:
    disk_full_after(after, deployed["public"].parent, monkeypatch)
    assert run_copy(deployed) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "No space left on device" in err
    # The file it was writing, in the staging directory beside the assets dir.
    assert f"{deployed['public'].parent.resolve()}/.__prerender-staging-" in err, err
    await assert_previous_copy_intact(deployed)


async def test_a_swap_that_fails_halfway_puts_the_previous_copy_back(
    deployed: dict[str, Any], capsys, monkeypatch
) -> None:
    """The previous copy is moved aside, then the new one cannot be moved in."""
    target = deployed["target"]
    real_rename = os.rename

    def rename(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        if Path(os.fsdecode(dst)) == target and ".__prerender-staging-" in os.fsdecode(src):
            raise OSError(
                errno.EIO, os.strerror(errno.EIO), os.fsdecode(src), None, os.fsdecode(dst)
            )
        real_rename(src, dst, *args, **kw)

    monkeypatch.setattr(os, "rename", rename)
    assert run_copy(deployed) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert str(target) in err and "left as it was" in err
    await assert_previous_copy_intact(deployed)


async def test_a_copy_interrupted_halfway_leaves_a_servable_previous_copy_and_the_next_run_works(
    deployed: dict[str, Any], monkeypatch
) -> None:
    real_write = copy_module.write_file
    calls = [0]

    def write_then_interrupt(destination: Path, content: Any) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        real_write(destination, content)

    monkeypatch.setattr(copy_module, "write_file", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_copy(deployed)
    monkeypatch.undo()
    await assert_previous_copy_intact(deployed)
    assert run_copy(deployed) == 0
    build2_id = json.loads((deployed["build2"] / MANIFEST_FILE).read_text())["buildId"]
    await assert_servable(deployed["public"], deployed["worker"], build2_id)


# -- prerender.py ------------------------------------------------------------------------


async def run_prerender(out: Path) -> int:
    return await write_build(FakeSite(), out, clock=FakeClock())


async def test_prerender_into_a_path_under_a_file_fails_naming_it(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    code = await run_prerender(blocker / "build")
    assert code not in (0, 1)  # not "a route failed": nothing was built
    err = capsys.readouterr().err
    assert err.startswith("prerender: error: ") and str(blocker) in err, err


@pytest.fixture
async def previous_build(tmp_path: Path) -> dict[str, Any]:
    out = await prerender(FakeSite(), tmp_path / "out" / "build", FakeClock())
    return {
        "out": out,
        "before": snapshot(out),
        "build_id": json.loads((out / MANIFEST_FILE).read_text())["buildId"],
    }


async def assert_previous_build_intact(b: dict[str, Any]) -> None:
    assert snapshot(b["out"]) == b["before"]
    assert leftovers(b["out"].parent) == []


async def test_prerender_with_a_read_only_output_parent_fails_naming_it(
    previous_build: dict[str, Any], capsys, monkeypatch
) -> None:
    parent = previous_build["out"].parent
    with read_only(parent, monkeypatch):
        code = await run_prerender(previous_build["out"])
    assert code not in (0, 1)
    err = capsys.readouterr().err
    assert err.startswith("prerender: error: ") and str(parent) in err, err
    await assert_previous_build_intact(previous_build)


@pytest.mark.parametrize("after", [0, 4, 10])  # a route file, a later one, the manifest
async def test_prerender_onto_a_full_disk_keeps_the_previous_build(
    previous_build: dict[str, Any], after: int, capsys, monkeypatch
) -> None:
    disk_full_after(after, previous_build["out"].parent, monkeypatch)
    code = await run_prerender(previous_build["out"])
    monkeypatch.undo()
    assert code not in (0, 1)  # a full disk is not a route's failure
    err = capsys.readouterr().err
    assert "No space left on device" in err
    assert f"{previous_build['out'].parent}/.build-staging-" in err, err
    await assert_previous_build_intact(previous_build)


async def test_prerender_whose_swap_fails_halfway_puts_the_previous_build_back(
    previous_build: dict[str, Any], capsys, monkeypatch
) -> None:
    out = previous_build["out"]
    real_rename = os.rename

    def rename(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        if Path(os.fsdecode(dst)) == out and ".build-staging-" in os.fsdecode(src):
            raise OSError(
                errno.EIO, os.strerror(errno.EIO), os.fsdecode(src), None, os.fsdecode(dst)
            )
        real_rename(src, dst, *args, **kw)

    monkeypatch.setattr(os, "rename", rename)
    code = await run_prerender(out)
    monkeypatch.undo()
    assert code not in (0, 1)
    assert str(out) in capsys.readouterr().err
    await assert_previous_build_intact(previous_build)

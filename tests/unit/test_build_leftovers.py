"""runtime.build_leftovers: what a build of a local package adds to its folder is removed
after the build (pip builds in place, and an egg-info under a Worker's src/ would be uploaded
with it); what was there before stays."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runtime.build_leftovers import main, no_build_leftovers


def test_what_a_build_adds_to_a_path_dependency_is_removed_and_what_was_there_stays(
    tmp_path: Path,
) -> None:
    lib = tmp_path / "lib"
    (lib / "build").mkdir(parents=True)
    (lib / "build" / "site.json").write_text("{}")  # e.g. a prerender's output
    (lib / "src" / "mine.egg-info").mkdir(parents=True)
    with no_build_leftovers([lib]):
        # What pip's in-place setuptools build writes, and a source file made meanwhile.
        (lib / "src" / "lib.egg-info").mkdir()
        (lib / "build" / "lib" / "pkg").mkdir(parents=True)
        (lib / "build" / "bdist.linux-x86_64").mkdir()
        (lib / "src" / "new_module.py").write_text("")
    assert not (lib / "src" / "lib.egg-info").exists()
    assert not (lib / "build" / "lib").exists()
    assert not (lib / "build" / "bdist.linux-x86_64").exists()
    assert (lib / "build" / "site.json").is_file()
    assert (lib / "src" / "mine.egg-info").is_dir()
    assert (lib / "src" / "new_module.py").is_file()


def test_a_build_folder_the_build_made_is_removed_whole_even_when_it_fails(
    tmp_path: Path,
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with pytest.raises(RuntimeError), no_build_leftovers([lib]):
        (lib / "build" / "lib").mkdir(parents=True)
        (lib / "lib.egg-info").mkdir()
        raise RuntimeError("pip failed")
    assert sorted(p.name for p in lib.iterdir()) == []


def _script_making_build_output(folder: Path, exit_code: int) -> list[str]:
    code = (
        "import pathlib, sys; f = pathlib.Path(sys.argv[1]); "
        "(f / 'src' / 'pkg.egg-info').mkdir(parents=True); "
        "(f / 'build' / 'lib').mkdir(parents=True); "
        f"sys.exit({exit_code})"
    )
    return [sys.executable, "-c", code, str(folder)]


@pytest.mark.parametrize("exit_code", [0, 3])
def test_the_command_line_passes_the_exit_code_on_and_cleans_either_way(
    tmp_path: Path, exit_code: int
) -> None:
    lib = tmp_path / "lib"
    (lib / "src" / "pkg").mkdir(parents=True)
    argv = ["--folder", str(lib), "--", *_script_making_build_output(lib, exit_code)]
    assert main(argv) == exit_code
    assert sorted(p.relative_to(lib).as_posix() for p in lib.rglob("*")) == ["src", "src/pkg"]


def test_the_command_line_refuses_a_missing_folder_or_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--folder", str(tmp_path / "nope"), "--", "true"])
    assert exc.value.code == 2
    assert "nope: not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--folder", str(tmp_path)])
    assert exc.value.code == 2
    assert "no command" in capsys.readouterr().err


def test_a_command_that_cannot_start_is_exit_127(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--folder", str(tmp_path), "--", str(tmp_path / "no-such-program")]) == 127
    assert "cannot run" in capsys.readouterr().err

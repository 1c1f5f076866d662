"""runtime.vendor's reading of a project (what `pywrangler sync` would install, and from where),
under CPython with no package index: requirements, local path dependencies as uv writes them,
the pinned SDK, and the errors a person fixes. Installing (pip, PyPI, the Pyodide target) is
tested through the local runtime in tests/worker/test_runtime_packages.py and
tests/worker/test_example_starlette.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runtime import vendor
from runtime.vendor import (
    SDK,
    PyodideTarget,
    VendorError,
    read_requirements,
    sdk_pin,
    vendor_inputs,
    vendor_project,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "starlette-blog"
TARGET = PyodideTarget("0.0.0", "3.14", ("pyemscripten_2026_0_wasm32",))


def write_project(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "0"\n{body}')
    return folder


def by_name(project: Path) -> dict[str, tuple[str, Path | None]]:
    return {r.name: (r.text, r.path) for r in read_requirements(project)}


def test_the_example_depends_on_the_seeding_package_at_the_root_of_this_repository() -> None:
    requirements = by_name(EXAMPLE)
    text, path = requirements["lazy-seed-python-worker"]
    assert path == ROOT
    assert text == f"lazy-seed-python-worker @ {ROOT.as_uri()}"
    assert {"starlette", "jinja2", SDK} <= set(requirements)


def test_a_uv_path_source_makes_a_plain_name_a_local_folder(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    project = write_project(
        tmp_path / "worker",
        'dependencies = ["My_Lib"]\n[tool.uv.sources]\nMy_Lib = { path = "../lib" }\n',
    )
    text, path = by_name(project)["my-lib"]
    assert path == tmp_path / "lib"
    assert text == f"My_Lib @ {(tmp_path / 'lib').as_uri()}"


def test_a_version_spec_gives_way_to_the_path_source_and_markers_stay(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    project = write_project(
        tmp_path,
        "dependencies = [\"lib>=1.0; python_version >= '3.11'\"]\n"
        '[tool.uv.sources]\nlib = { path = "lib" }\n',
    )
    text, _ = by_name(project)["lib"]
    assert text == f"lib @ {(tmp_path / 'lib').as_uri()} ; python_version >= '3.11'"


@pytest.mark.parametrize("url", ["file:lib", "./lib", "lib_folder_uri"])
def test_a_local_folder_may_be_named_by_a_relative_path_or_a_file_url(
    tmp_path: Path, url: str
) -> None:
    (tmp_path / "lib").mkdir()
    url = (tmp_path / "lib").as_uri() if url == "lib_folder_uri" else url
    project = write_project(tmp_path, f'dependencies = ["lib @ {url}"]\n')
    assert by_name(project)["lib"][1] == tmp_path / "lib"


def test_the_pinned_sdk_is_added_unless_the_project_names_it(tmp_path: Path) -> None:
    plain = write_project(tmp_path / "plain", 'dependencies = ["jinja2"]\n')
    assert by_name(plain)[SDK] == (sdk_pin(), None)
    own = write_project(tmp_path / "own", 'dependencies = ["workers_runtime_sdk==1.0"]\n')
    assert [r.text for r in read_requirements(own)] == ["workers_runtime_sdk==1.0"]


def test_a_dependency_on_a_missing_folder_fails_naming_the_file_and_the_folder(
    tmp_path: Path,
) -> None:
    write_project(tmp_path, 'dependencies = ["lib @ file:../no-such-lib"]\n')
    with pytest.raises(VendorError) as failure:
        vendor_project(tmp_path, log=lambda line: None)
    message = str(failure.value)
    assert str(tmp_path / "pyproject.toml") in message
    assert str(tmp_path.parent / "no-such-lib") in message
    assert "not a folder" in message
    assert not (tmp_path / "python_modules").exists()


def test_an_entry_that_is_not_a_requirement_is_refused_with_the_forms_that_work(
    tmp_path: Path,
) -> None:
    write_project(tmp_path, 'dependencies = ["??"]\n')
    with pytest.raises(VendorError) as failure:
        read_requirements(tmp_path)
    message = str(failure.value)
    assert message.startswith(f'{tmp_path / "pyproject.toml"}: [project] dependencies: "??"')
    assert '"name>=1.0"' in message


def test_dependencies_that_are_not_a_list_of_strings_are_refused(tmp_path: Path) -> None:
    write_project(tmp_path, 'dependencies = "jinja2"\n')
    with pytest.raises(VendorError, match=r"dependencies must be a list of strings"):
        read_requirements(tmp_path)


def test_a_folder_without_pyproject_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(VendorError, match=r"pyproject\.toml not found"):
        read_requirements(tmp_path)


def test_building_a_path_dependency_does_not_change_its_fingerprint(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / "lib.egg-info").mkdir(parents=True)
    (lib / "lib.py").write_text("VALUE = 1\n")
    (lib / "lib.egg-info" / "SOURCES.txt").write_text("lib.py\n")
    git = ["git", "-C", str(lib), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "lib"], check=True)
    project = write_project(tmp_path / "worker", f'dependencies = ["lib @ {lib.as_uri()}"]\n')
    before = vendor_inputs(read_requirements(project), TARGET)
    # What a build of the package does (pip installing it writes its egg-info again).
    (lib / "lib.egg-info" / "SOURCES.txt").write_text("lib.py\nlib.egg-info/SOURCES.txt\n")
    assert vendor_inputs(read_requirements(project), TARGET) == before


# --- what a build leaves in a path dependency's folder ---------------------------------------


def test_vendoring_leaves_no_build_output_in_a_path_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = write_project(tmp_path / "lib", "")
    project = write_project(tmp_path / "worker", f'dependencies = ["lib @ {lib.as_uri()}"]\n')

    def pip_building_in_place(args: list[str]) -> None:
        (lib / "lib.egg-info").mkdir()
        (lib / "build" / "lib").mkdir(parents=True)
        Path(args[args.index("--target") + 1]).mkdir()
        return None

    monkeypatch.setattr(vendor, "_pip", pip_building_in_place)
    monkeypatch.setattr(vendor, "pyodide_target", lambda: TARGET)
    monkeypatch.setattr(vendor, "build_pure_fallback", lambda *args: None)
    assert vendor_project(project, log=lambda line: None) is True
    assert (project / "python_modules" / ".vendor-inputs.json").is_file()
    assert sorted(p.name for p in lib.iterdir()) == ["pyproject.toml"]

"""What `wrangler deploy` would upload, checked offline with `--dry-run --outdir`.

For a Python Worker the upload is every **/*.py under the folder of `main` (named relative to it,
so `src/seeding/x.py` is `seeding/x.py`), plus everything in python_modules/ (the vendored
`workers` SDK: scripts/vendor_sdk.sh, what `pywrangler sync` does) under `python_modules/`.
Static assets are uploaded from the [assets] directory, which must hold the prerendered pages.
"""

from __future__ import annotations

import tomllib

import pytest

from runtime.local_runtime import wrangler_dry_run
from tests.worker.conftest import ROOT

WRANGLER = tomllib.loads((ROOT / "wrangler.toml").read_text())
MAIN = ROOT / WRANGLER["main"]
SRC_DIR = MAIN.parent
ASSETS_DIR = (ROOT / WRANGLER["assets"]["directory"]).resolve()


@pytest.fixture(scope="module")
def dry_run(
    tmp_path_factory: pytest.TempPathFactory, runtime_installed: None, built_site: None
) -> tuple[set[str], str]:
    return wrangler_dry_run(ROOT, tmp_path_factory.mktemp("dry-run") / "dist")


def test_the_upload_holds_the_entry_point_and_every_module_under_src(
    dry_run: tuple[set[str], str],
) -> None:
    uploaded, _ = dry_run
    assert MAIN.name in uploaded
    modules = {
        p.relative_to(SRC_DIR).as_posix()
        for p in SRC_DIR.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules - uploaded == set()
    # Imported as `seeding`, never `src.seeding`.
    assert not any(name.startswith("src/") for name in uploaded)


def test_the_upload_from_src_is_python_modules_only(dry_run: tuple[set[str], str]) -> None:
    """Nothing else under src/ goes up with the Worker: wrangler uploads *.txt and other
    files as modules too (an egg-info a build left there would be uploaded)."""
    uploaded, _ = dry_run
    # README.md is the note wrangler writes into --outdir, not an upload.
    other = {
        name
        for name in uploaded - {"README.md"}
        if not name.startswith("python_modules/") and not name.endswith(".py")
    }
    assert other == set(), f"remove these from {SRC_DIR} (build by-products?)"


def test_the_upload_holds_the_seeding_and_app_packages(dry_run: tuple[set[str], str]) -> None:
    uploaded, _ = dry_run
    for package in ("seeding", "app"):
        assert (SRC_DIR / package / "__init__.py").is_file(), f"src/{package}/ is not a package"
        assert f"{package}/__init__.py" in uploaded
        expected = {f"{package}/{p.name}" for p in (SRC_DIR / package).glob("*.py")}
        assert expected <= uploaded


def test_the_upload_holds_the_vendored_workers_sdk(dry_run: tuple[set[str], str]) -> None:
    uploaded, _ = dry_run
    for name in ("__init__.py", "entrypoints.py", "rpc.py", "utils.py"):
        assert f"python_modules/workers/{name}" in uploaded
    assert not any(name.endswith(".pyc") for name in uploaded)


def _assets_read(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "from the assets directory" in line)
    listed = []
    for line in lines[start + 1 :]:
        if not line.startswith("/"):
            break
        listed.append(line.strip())
    return listed


def test_the_assets_directory_holds_the_prerendered_pages(dry_run: tuple[set[str], str]) -> None:
    _, output = dry_run
    prerendered = [p for p in (ASSETS_DIR / "__prerender").rglob("*") if p.is_file()]
    assert prerendered, f"{ASSETS_DIR}/__prerender/ is empty: run the build"
    listed = set(_assets_read(output))
    assert "/styles.css" in listed
    assert "/__prerender" in listed
    # Every prerendered file existing now was read for upload (the build ran before the dry run).
    missing = {"/" + p.relative_to(ASSETS_DIR).as_posix() for p in prerendered} - listed
    assert missing == set()


def test_the_dry_run_reports_the_bindings(dry_run: tuple[set[str], str]) -> None:
    _, output = dry_run
    assert f"env.{WRANGLER['assets']['binding']}" in output
    for name in WRANGLER.get("vars", {}):
        assert f"env.{name}" in output

"""Vendor a Python Worker's dependencies into `<project>/python_modules/`, as `pywrangler sync`
does, with pip and PyPI alone (sync needs internet: it downloads a Pyodide build environment).

Inputs: `[project] dependencies` of `<project>/pyproject.toml` plus `workers-runtime-sdk` at the
version this repository pins (its dev group), unless the project names that package itself.
Target: the Pyodide the local runtime runs (`node_modules/pyodide/pyodide-lock.json`: Python
version and ABI), so pip takes pure-Python wheels and, for compiled packages, Pyodide wheels
(`--platform pyemscripten_<abi>_wasm32 --python-version <X.Y> --only-binary=:all:`).
MarkupSafe, which ships neither, gets a pure-Python wheel made from its sdist without the C
speedups (`src/markupsafe/*.py`; it falls back to `_native.py`), offered to pip with
`--find-links` whenever the project has dependencies; pip installs it only if something needs it.
Local path dependencies are installed from their folder: `name @ file:///abs/path`,
`name @ file:rel/path` or `name @ ./rel/path` (relative to the project), or a plain `name` with
`[tool.uv.sources] name = { path = "rel/path" }` as uv and pywrangler read it.

Idempotent: the inputs (requirements, target, and each path dependency's files: their git
listing, or a walk of the folder) are written to `python_modules/.vendor-inputs.json`; when they
are unchanged nothing runs. The new folder is built beside the old one and swapped in whole, so a
failed run leaves the previous python_modules/ in place. pip builds a path dependency in its
own folder: what that build adds there is removed after it (`runtime.build_leftovers`).
Failures raise VendorError, whose message names the file, the package and the fix; the command
line prints it and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from runtime.build_leftovers import no_build_leftovers

ROOT = Path(__file__).resolve().parents[1]
PYODIDE_LOCK = ROOT / "node_modules" / "pyodide" / "pyodide-lock.json"
SDK = "workers-runtime-sdk"
INPUTS_FILE = ".vendor-inputs.json"
FORMAT = 1  # bump when the way python_modules/ is made changes: every project re-vendors
# Packages with optional C speedups and no Pyodide wheel on PyPI: made pure-Python from the sdist.
PURE_FALLBACK = "markupsafe"
# pip's own noise on this machine's configuration, never useful to a reader.
PIP_NOISE = re.compile(r"is ignored: it is neither a file nor a directory")

Log = Callable[[str], None]


class VendorError(Exception):
    """A failure a person fixes: the message names the file, the package and the fix."""


@dataclass(frozen=True)
class PyodideTarget:
    """What the wheels must run on: the local runtime's Pyodide."""

    pyodide: str
    python: str  # "3.14"
    platforms: tuple[str, ...]

    def describe(self) -> str:
        return f"Pyodide {self.pyodide} (Python {self.python}, {self.platforms[0]})"


def pyodide_target(lock_path: Path = PYODIDE_LOCK) -> PyodideTarget:
    if not lock_path.is_file():
        raise VendorError(
            f"{lock_path} not found: run `bash scripts/setup-node.sh` (the vendored wheels are "
            f"chosen for the Pyodide the local runtime runs)"
        )
    info = json.loads(lock_path.read_text())["info"]
    abi = info["abi_version"]  # "2026_0"
    package = json.loads((lock_path.parent / "package.json").read_text())
    return PyodideTarget(
        pyodide=package["version"],
        python=".".join(info["python"].split(".")[:2]),
        # PEP 783's name, and the one Pyodide used before it.
        platforms=(f"pyemscripten_{abi}_wasm32", f"pyodide_{abi}_wasm32"),
    )


# --- requirements -----------------------------------------------------------------------------

REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<extras>\[[^\]]*\])?"
    r"\s*(?:@\s*(?P<url>\S+))?(?P<rest>.*)$"
)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """One requirement as pip gets it; `path` is set for a local folder."""

    name: str
    text: str
    path: Path | None = None


def sdk_pin(pyproject: Path = ROOT / "pyproject.toml") -> str:
    groups = tomllib.loads(pyproject.read_text()).get("dependency-groups", {})
    for entry in groups.get("dev", []):
        if isinstance(entry, str) and normalized(entry.split("==")[0].strip()) == SDK:
            return entry.strip()
    raise VendorError(f"{pyproject}: the dev group pins no `{SDK}==X`: add one (the SDK to vendor)")


def read_requirements(project: Path) -> list[Requirement]:
    """The project's dependencies (paths made absolute), then the pinned SDK if not among them."""
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        raise VendorError(f"{pyproject} not found: --project must name a folder holding one")
    try:
        data = tomllib.loads(pyproject.read_text())
    except tomllib.TOMLDecodeError as err:
        raise VendorError(f"{pyproject}: not valid TOML ({err}): fix the file") from None
    entries = data.get("project", {}).get("dependencies", [])
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise VendorError(
            f"{pyproject}: [project] dependencies must be a list of strings such as "
            f'"jinja2>=3" (got {entries!r})'
        )
    sources = data.get("tool", {}).get("uv", {}).get("sources", {})
    requirements = [_requirement(entry, project, pyproject, sources) for entry in entries]
    if SDK not in {r.name for r in requirements}:
        requirements.append(Requirement(SDK, sdk_pin()))
    return requirements


def _requirement(entry: str, project: Path, pyproject: Path, sources: dict) -> Requirement:
    match = REQUIREMENT.match(entry)
    if match is None:
        raise VendorError(
            f'{pyproject}: [project] dependencies: "{entry}" is not a requirement: write it as '
            f'"name", "name>=1.0" or "name @ file:///path"'
        )
    name, extras, url, rest = match["name"], match["extras"] or "", match["url"], match["rest"]
    source = sources.get(name) or sources.get(normalized(name))
    if url is None and isinstance(source, dict) and "path" in source:
        url = "file:" + str(source["path"])  # uv's path: relative to the project
        # A version spec gives way to the path; environment markers stay.
        rest = rest[rest.index(";") :] if ";" in rest else ""
    if url is None or not url.startswith(("file:", "./", "../", "/")):
        return Requirement(normalized(name), entry.strip())
    folder = _local_path(url, project)
    if folder is None:
        raise VendorError(
            f'{pyproject}: dependency "{entry}": a file URL must name a local path '
            f"(file:///abs/path, or file:rel/path read from {project})"
        )
    if not folder.is_dir():
        raise VendorError(
            f'{pyproject}: dependency "{entry}" names {folder}, which is not a folder: fix the '
            f"path (a relative one is read from {project})"
        )
    text = f"{name}{extras} @ {folder.as_uri()}{' ' + rest.strip() if rest.strip() else ''}"
    return Requirement(normalized(name), text, folder)


def _local_path(url: str, project: Path) -> Path | None:
    """The folder a path or file URL names (None for a file URL of another host)."""
    if url.startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        # file:///abs is absolute; file:rel (not PEP 508, accepted here) is read from the project.
        url = unquote(parts.path)
    return (project / url).resolve()


# --- inputs stamp -----------------------------------------------------------------------------


def _source_files(folder: Path) -> list[str]:
    """The files of a local package: git's listing (tracked and unignored) when the folder is in
    a git work tree, else a walk that skips hidden, cache, build and vendored folders."""
    git = ["git", "-C", str(folder), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        listed = subprocess.run(git, capture_output=True)
    except OSError:  # no git on this machine
        listed = None
    if listed is not None and listed.returncode == 0:
        # A build of the package rewrites its *.egg-info even where git tracks it.
        return sorted(
            p
            for p in listed.stdout.decode().split("\0")
            if p and not any(part.endswith(".egg-info") for part in p.split("/")[:-1])
        )
    skip = {"__pycache__", "node_modules", "python_modules", "build", "dist"}
    files = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p in skip or p.endswith(".egg-info") for p in parts[:-1]):
            continue
        if path.is_file() and not parts[-1].startswith("."):
            files.append("/".join(parts))
    return sorted(files)


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for rel in _source_files(folder):
        path = folder / rel
        if path.is_file():
            stat = path.stat()
            digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def vendor_inputs(requirements: list[Requirement], target: PyodideTarget) -> dict:
    return {
        "format": FORMAT,
        "target": {"pyodide": target.pyodide, "python": target.python},
        "requirements": [r.text for r in requirements],
        "local_sources": {str(r.path): _fingerprint(r.path) for r in requirements if r.path},
    }


def _recorded_inputs(modules: Path) -> dict | None:
    try:
        return json.loads((modules / INPUTS_FILE).read_text())
    except (OSError, ValueError):
        return None


# --- the pure-Python MarkupSafe ---------------------------------------------------------------


def build_pure_fallback(requirement: str, wheel_dir: Path, work: Path) -> Path:
    """Download MarkupSafe's sdist (`requirement`, e.g. "markupsafe>=2") and write a py3-none-any
    wheel of its `src/markupsafe` without the C file into `wheel_dir`; returns the wheel."""
    sdists = work / "sdist"
    failure = _pip(["download", "--no-deps", "--no-binary=:all:", "-d", str(sdists), requirement])
    if failure:
        raise VendorError(
            f"{requirement}: pip could not download its sdist (the pure-Python fallback is made "
            f"from it); check the version asked for in [project] dependencies.\n{_tail(failure)}"
        )
    [sdist] = sdists.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        top = next(n for n in members if n.count("/") == 1 and n.endswith("/PKG-INFO"))[:-9]
        metadata = _read(tar, members[f"{top}/PKG-INFO"])
        package = f"{top}/src/markupsafe/"
        files = {
            "markupsafe/" + name[len(package) :]: _read(tar, member)
            for name, member in members.items()
            if name.startswith(package) and not name.endswith(".c")
        }
    version = re.search(rb"^Version: (\S+)$", metadata, re.M)
    if version is None or "markupsafe/__init__.py" not in files:
        raise VendorError(f"{sdist.name}: not the MarkupSafe sdist layout this tool knows")
    dist_info = f"markupsafe-{version[1].decode()}.dist-info"
    files[f"{dist_info}/METADATA"] = metadata
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: runtime.vendor\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = wheel_dir / f"{dist_info.removesuffix('.dist-info')}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = tar.extractfile(member)
    if file is None:
        raise VendorError(f"{tar.name}: {member.name} is not a regular file")
    return file.read()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


# --- pip --------------------------------------------------------------------------------------


def _pip(args: list[str]) -> str | None:
    """Run pip; None when it succeeds, else its output."""
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode == 0:
        return None
    lines = (result.stdout + result.stderr).splitlines()
    return "\n".join(line for line in lines if not PIP_NOISE.search(line)) + "\n"


def _tail(output: str) -> str:
    return "pip said:\n" + "\n".join(output.splitlines()[-12:])


def _install_failure(output: str, target: PyodideTarget, pyproject: Path) -> VendorError:
    """Names the packages pip found nothing usable for, when it says so."""
    missing = re.findall(r"No matching distribution found for ([A-Za-z0-9._-]+)", output)
    block = re.search(r"available for your environment:\n((?:[ \t]+\S+\n)+)", output)
    if block:
        missing += block[1].split()
    where = f"{pyproject}: [project] dependencies"
    if not missing:
        return VendorError(f"{where}: pip failed for {target.describe()}.\n{_tail(output)}")
    names = ", ".join(sorted({normalized(n) for n in missing}))
    return VendorError(
        f"{where}: {names}: no pure-Python wheel and no Pyodide wheel for {target.describe()} "
        f"on the index. Fix: pick a version that ships one, or drop the dependency that pulls it "
        f"in.\n{_tail(output)}"
    )


def _installed(modules: Path) -> Iterator[tuple[str, str, bool]]:
    """(name, version, compiled) of each distribution in a python_modules folder."""
    for dist in sorted(modules.glob("*.dist-info")):
        meta = (dist / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", meta, re.M)
        version = re.search(r"^Version: (.+)$", meta, re.M)
        record = (dist / "RECORD").read_text(errors="replace") if (dist / "RECORD").exists() else ""
        compiled = any(line.split(",")[0].endswith(".so") for line in record.splitlines())
        yield (name[1] if name else dist.name), (version[1] if version else "?"), compiled


def vendor_project(project: Path, *, force: bool = False, log: Log = print) -> bool:
    """Make `<project>/python_modules/` hold the project's dependencies for the runtime's
    Pyodide. Returns False when it already did (inputs unchanged), True after installing."""
    project = project.resolve()
    requirements = read_requirements(project)
    target = pyodide_target()
    inputs = vendor_inputs(requirements, target)
    modules = (project / "python_modules").resolve()
    if not force and modules.is_dir() and _recorded_inputs(modules) == inputs:
        log(f"vendor: {modules} is up to date (--force reinstalls)")
        return False

    count = f"{len(requirements)} requirement{'' if len(requirements) == 1 else 's'}"
    log(f"vendor: installing {count} for {target.describe()}: {modules}")
    with tempfile.TemporaryDirectory(prefix=".python_modules-", dir=modules.parent) as work_dir:
        work = Path(work_dir)
        staged, wheels = work / "python_modules", work / "wheels"
        wheels.mkdir()
        if any(r.name != SDK for r in requirements):
            direct = [r.text for r in requirements if r.name == PURE_FALLBACK and not r.path]
            build_pure_fallback(direct[0] if direct else PURE_FALLBACK, wheels, work)
        platforms = [arg for p in target.platforms for arg in ("--platform", p)]
        with no_build_leftovers([r.path for r in requirements if r.path is not None]):
            failure = _pip(
                ["install", "--no-compile", "--target", str(staged), "--only-binary=:all:"]
                + ["--python-version", target.python, *platforms, "--find-links", str(wheels)]
                + [r.text for r in requirements]
            )
        if failure:
            raise _install_failure(failure, target, project / "pyproject.toml")
        shutil.rmtree(staged / "bin", ignore_errors=True)  # console scripts: for no Worker
        # pywrangler sync marks the folder as a venv and writes its version into .synced; this
        # token names no pywrangler version, so a later `pywrangler sync` still re-syncs.
        (staged / "pyvenv.cfg").touch()
        (staged / ".synced").write_text("runtime.vendor\n")
        (staged / INPUTS_FILE).write_text(json.dumps(inputs, indent=2) + "\n")
        _swap_in(staged, modules, work)

    for name, version, compiled in _installed(modules):
        how = " (compiled: Pyodide wheel)" if compiled else ""
        if normalized(name) == PURE_FALLBACK:
            how = " (pure-Python fallback: its sdist's src/markupsafe without the C speedups)"
        log(f"vendor:   {name} {version}{how}")
    return True


def _swap_in(staged: Path, modules: Path, work: Path) -> None:
    if modules.exists():
        modules.rename(work / "previous")
    staged.rename(modules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.vendor",
        description=(
            "Install a Python Worker's [project] dependencies (plus the pinned "
            "workers-runtime-sdk) into <project>/python_modules/ for the local runtime's "
            "Pyodide, as `pywrangler sync` does, using only pip and PyPI. Pure-Python "
            "wheels, Pyodide wheels for compiled packages, and a pure-Python MarkupSafe "
            "made from its sdist. Does nothing when the inputs are unchanged."
        ),
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path.cwd(),
        help="folder holding pyproject.toml (default: .)",
    )
    parser.add_argument(
        "--force", action="store_true", help="reinstall even if the inputs are unchanged"
    )
    args = parser.parse_args(argv)
    try:
        vendor_project(args.project, force=args.force)
    except VendorError as err:
        print(f"vendor: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

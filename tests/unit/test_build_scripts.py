"""The build steps through their command lines (`seeding.build.cli`, which
scripts/prerender.py and scripts/copy_prerender.py call): outputs, validation, safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import seeding.build.copy as copy_module
from seeding.build.cli import copy_main, prerender_main
from seeding.build.manifest import MANIFEST_FILE, PrerenderManifest, parse_manifest, variant_file
from seeding.build.prerender import write_build
from seeding.primitives.cache import etag_for
from seeding.rendering import RenderMode, SiteRoute
from seeding.routes import Variant
from seeding.schema import RouteStatus
from seeding.seed.packs import parse_pack
from tests.unit.fakes import FakeClock, FakeSite
from tests.unit.support import identity_of, prerender

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def build(tmp_path: Path) -> Path:
    return await prerender(FakeSite(), tmp_path / "build", FakeClock())


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    public = tmp_path / "public"
    public.mkdir()
    (public / "styles.css").write_text("body{}")
    return public


@pytest.fixture
def worker(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


def run_copy(build: Path, assets: Path, worker: Path) -> int:
    return copy_main([str(build), str(assets), "--worker-dir", str(worker)])


def manifest_of(build: Path) -> PrerenderManifest:
    return parse_manifest((build / MANIFEST_FILE).read_bytes())


def shipped_bodies(assets: Path, worker: Path) -> dict[tuple[str, Variant], bytes]:
    """Every body the copy shipped, read back the way the Worker reads it."""
    identity = identity_of(worker / "prerender_build.py")
    bodies: dict[tuple[str, Variant], bytes] = {}
    for path in sorted((assets / "__prerender" / "packs").iterdir()):
        bucket, _, part = path.stem.partition("-")
        assert not part, "the example's packs need no second part"
        pack = parse_pack(
            path.read_bytes(),
            path.name,
            build_id=identity.build_id,
            bucket=int(bucket),
            data_variant=identity.data_variant,
        )
        for route in pack.paths:
            record = pack.route(route)
            assert record is not None
            for variant, located in record.variants.items():
                bodies[route, variant] = pack.body(located)
    return bodies


def built_bodies(build: Path) -> dict[tuple[str, Variant], bytes]:
    manifest = manifest_of(build)
    return {
        (route, variant): (build / info.file).read_bytes()
        for route, record in manifest.routes.items()
        for variant, info in record.variants.items()
    }


def test_prerender_records_every_route_with_its_status(build: Path) -> None:
    manifest = manifest_of(build)
    statuses = {path: rec.status for path, rec in manifest.routes.items()}
    assert statuses["/blog/first"] is RouteStatus.RENDERED
    assert statuses["/blog/late"] is RouteStatus.SKIPPED
    assert statuses["/now"] is RouteStatus.SKIPPED
    assert manifest.routes["/now"].reason == "shows the request time"
    blog = manifest.routes["/blog/first"]
    assert blog.revalidate == 60 and manifest.routes["/about"].revalidate is None
    assert blog.tags == ("post:first",)
    assert set(blog.variants) == {Variant.HTML, Variant.DATA}
    for variant, record in blog.variants.items():
        assert (build / record.file).stat().st_size == record.bytes
        assert record.headers["content-type"] == variant.content_type
        # The ETag is hashed at build time: a seed answers with it without hashing.
        assert record.headers["etag"] == etag_for((build / record.file).read_bytes())


async def test_prerender_records_a_failing_route_and_exits_non_zero(tmp_path: Path, capsys) -> None:
    site = FakeSite()
    site.fail_routes.add("/blog/second")
    code = await write_build(site, tmp_path / "out", clock=FakeClock())
    assert code == 1
    captured = capsys.readouterr()
    assert "RuntimeError: renderer broke on /blog/second" in captured.err
    assert "[5/7] /blog/second: ERROR RuntimeError" in captured.out
    record = manifest_of(tmp_path / "out").routes["/blog/second"]
    assert record.status is RouteStatus.ERROR and "renderer broke" in record.reason


async def test_a_declared_route_that_is_not_a_200_is_an_error(tmp_path: Path) -> None:
    site = FakeSite()
    listed = await site.site_routes()
    site.site_routes = lambda: _listed([*listed, SiteRoute("/gone", "/gone", RenderMode.PRERENDER)])
    assert await write_build(site, tmp_path / "out", clock=FakeClock()) == 1
    record = manifest_of(tmp_path / "out").routes["/gone"]
    assert record.status is RouteStatus.ERROR and "HTTP 404" in record.reason


async def _listed(routes: list[SiteRoute]) -> list[SiteRoute]:
    return routes


def test_copy_ships_packs_and_the_build_identity(build: Path, assets: Path, worker: Path) -> None:
    assert run_copy(build, assets, worker) == 0
    target = assets / "__prerender"
    shipped = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert shipped and all(p.startswith("packs/") and p.endswith(".bin") for p in shipped)
    assert not (target / MANIFEST_FILE).exists()  # the listing stays in the build
    identity = identity_of(worker / "prerender_build.py")
    assert identity.build_id == manifest_of(build).build_id
    rendered = {k: v for k, v in built_bodies(build).items()}
    assert shipped_bodies(assets, worker) == rendered
    assert (assets / "styles.css").exists()


async def test_copy_replaces_the_previous_copy_whole(
    build: Path, assets: Path, worker: Path, tmp_path: Path
) -> None:
    assert run_copy(build, assets, worker) == 0
    stray = assets / "__prerender" / "routes" / "zz" / "old.html"
    stray.parent.mkdir(parents=True)
    stray.write_text("from an older build")
    second = await prerender(FakeSite(), tmp_path / "build2", FakeClock(2e9))
    assert run_copy(second, assets, worker) == 0
    assert not stray.exists()
    assert identity_of(worker / "prerender_build.py").build_id == manifest_of(second).build_id
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]
    assert leftovers == []
    assert [p.name for p in worker.iterdir()] == ["prerender_build.py"]


def test_copy_refuses_a_manifest_pointing_outside_the_build(
    build: Path, assets: Path, worker: Path, capsys
) -> None:
    path = build / MANIFEST_FILE
    doc = json.loads(path.read_text())
    doc["routes"]["/about"]["variants"]["html"]["file"] = "../../../etc/passwd"
    path.write_text(json.dumps(doc))
    assert run_copy(build, assets, worker) == 1
    assert "routes['/about'].variants.html.file" in capsys.readouterr().err
    assert not (assets / "__prerender").exists() and not list(worker.iterdir())


def test_copy_refuses_a_symlinked_route_file(
    build: Path, assets: Path, worker: Path, tmp_path: Path, capsys
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x" * (build / variant_file("/about", Variant.HTML)).stat().st_size)
    file = build / variant_file("/about", Variant.HTML)
    file.unlink()
    file.symlink_to(secret)
    assert run_copy(build, assets, worker) == 1
    assert "symlink" in capsys.readouterr().err


def test_copy_refuses_a_symlinked_target(
    build: Path, assets: Path, worker: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (assets / "__prerender").symlink_to(elsewhere)
    assert run_copy(build, assets, worker) == 1
    assert list(elsewhere.iterdir()) == []


def test_copy_refuses_a_file_over_25_mib(build: Path, assets: Path, worker: Path, capsys) -> None:
    file = build / variant_file("/about", Variant.HTML)
    size = 25 * 1024 * 1024 + 1
    with file.open("wb") as f:
        f.truncate(size)
    path = build / MANIFEST_FILE
    doc = json.loads(path.read_text())
    doc["routes"]["/about"]["variants"]["html"]["bytes"] = size
    path.write_text(json.dumps(doc))
    assert run_copy(build, assets, worker) == 1
    assert "25 MiB" in capsys.readouterr().err


def test_copy_refuses_a_missing_listed_file(
    build: Path, assets: Path, worker: Path, capsys
) -> None:
    (build / variant_file("/blog/first", Variant.DATA)).unlink()
    assert run_copy(build, assets, worker) == 1
    err = capsys.readouterr().err
    assert "routes['/blog/first'].variants.data.file" in err and "does not exist" in err


def test_copy_refuses_missing_folders_naming_them(
    tmp_path: Path, build: Path, assets: Path, worker: Path, capsys
) -> None:
    assert run_copy(tmp_path / "nope", assets, worker) == 1
    assert "build directory not found" in capsys.readouterr().err
    assert run_copy(build, tmp_path / "no-public", worker) == 1
    assert "assets directory not found" in capsys.readouterr().err
    assert run_copy(build, assets, tmp_path / "no-src") == 1
    assert "pass --worker-dir" in capsys.readouterr().err


def test_copy_finds_the_worker_folder_in_wrangler_toml(
    build: Path, assets: Path, tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "wrangler.toml").write_text('main = "worker/entry.py"\n')
    (tmp_path / "worker").mkdir()
    monkeypatch.chdir(tmp_path)
    assert copy_main([str(build), str(assets)]) == 0
    assert (tmp_path / "worker" / "prerender_build.py").is_file()


def test_copy_warns_near_the_free_plan_limit_and_refuses_over_the_paid_one(
    build: Path, assets: Path, worker: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(copy_module, "count_public_files", lambda _: 18_500)
    assert run_copy(build, assets, worker) == 0
    assert "Free plan allows 20000" in capsys.readouterr().err
    monkeypatch.setattr(copy_module, "count_public_files", lambda _: 100_000)
    assert run_copy(build, assets, worker) == 1
    assert "over the 100000" in capsys.readouterr().err


def test_the_file_limit_counts_the_files_the_copy_uploads(
    build: Path, assets: Path, worker: Path, monkeypatch, capsys
) -> None:
    assert run_copy(build, assets, worker) == 0
    count = sum(1 for p in (assets / "__prerender").rglob("*") if p.is_file())
    public = copy_module.count_public_files(assets)
    monkeypatch.setattr(copy_module, "PAID_PLAN_FILES", public + count)
    assert run_copy(build, assets, worker) == 0
    monkeypatch.setattr(copy_module, "PAID_PLAN_FILES", public + count - 1)
    assert run_copy(build, assets, worker) == 1
    assert f"{public + count} files after the copy" in capsys.readouterr().err


async def test_an_interrupted_copy_leaves_the_previous_copy_and_identity_intact(
    build: Path, assets: Path, worker: Path, tmp_path: Path, monkeypatch
) -> None:
    assert run_copy(build, assets, worker) == 0
    bodies = shipped_bodies(assets, worker)
    module = (worker / "prerender_build.py").read_text()
    second = await prerender(FakeSite(), tmp_path / "build2", FakeClock(2e9))
    real_write = copy_module.write_file
    written: list[Path] = []

    def write_then_die(destination, content):
        if written:
            raise KeyboardInterrupt  # Ctrl-C after the first pack
        written.append(destination)
        return real_write(destination, content)

    monkeypatch.setattr(copy_module, "write_file", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_copy(second, assets, worker)
    assert shipped_bodies(assets, worker) == bodies
    assert (worker / "prerender_build.py").read_text() == module
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]


def test_a_copy_killed_between_its_renames_is_recovered_by_the_next_run(
    build: Path, assets: Path, worker: Path, tmp_path: Path
) -> None:
    assert run_copy(build, assets, worker) == 0
    # The state a SIGKILL leaves between "old copy moved aside" and "new copy in place".
    (assets / "__prerender").rename(tmp_path / ".__prerender-old-x")
    (tmp_path / ".__prerender-staging-y").mkdir()
    assert run_copy(build, assets, worker) == 0
    assert shipped_bodies(assets, worker) == built_bodies(build)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]


def test_copy_killed_with_sigkill_keeps_the_old_copy(
    build: Path, assets: Path, worker: Path, tmp_path: Path
) -> None:
    assert run_copy(build, assets, worker) == 0
    before = shipped_bodies(assets, worker)
    # A copy that stops at its first file write, killed from outside.
    script = (
        "import os, signal, sys\n"
        "import seeding.build.copy as c\n"
        "from seeding.build.cli import copy_main\n"
        "c.write_file = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"copy_main([{str(build)!r}, {str(assets)!r}, '--worker-dir', {str(worker)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert shipped_bodies(assets, worker) == before
    assert run_copy(build, assets, worker) == 0  # and the next run cleans up after it
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]


@pytest.mark.parametrize("script", ["copy_prerender.py", "prerender.py"])
def test_the_scripts_explain_usage_and_exit_codes(script: str) -> None:
    path = str(ROOT / "scripts" / script)
    help_text = subprocess.run(
        [sys.executable, path, "--help"], capture_output=True, text=True
    ).stdout
    assert "Exit codes: 0" in help_text
    proc = subprocess.run([sys.executable, path, "--bogus"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_prerender_names_a_site_it_cannot_load(tmp_path: Path, capsys) -> None:
    assert prerender_main(["--site", "no_such_module:SITE", "--out", str(tmp_path)]) == 4
    assert "cannot import 'no_such_module'" in capsys.readouterr().err
    assert prerender_main(["--site", "json:dumps", "--app-dir", str(tmp_path)]) == 4
    assert "AsgiSite" in capsys.readouterr().err


def test_prerender_then_copy_round_trips_the_example_site(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": ""}
    out, public, worker = tmp_path / "build", tmp_path / "public", tmp_path / "src"
    public.mkdir()
    worker.mkdir()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/prerender.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "rendered" in proc.stdout  # progress lines
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/copy_prerender.py"),
            str(out),
            str(public),
            "--worker-dir",
            str(worker),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    manifest = manifest_of(out)
    rendered = {p for p, r in manifest.routes.items() if r.status is RouteStatus.RENDERED}
    assert {"/", "/about", "/blog"} <= rendered
    assert any(p.startswith("/blog/") for p in rendered)
    skipped = {p for p, r in manifest.routes.items() if r.status is RouteStatus.SKIPPED}
    assert "/now" in skipped and len(skipped) >= 2  # the dynamic page and the on-demand post
    assert shipped_bodies(public, worker) == built_bodies(out)


def test_source_date_epoch_sets_the_build_time(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert prerender_main(["--out", str(tmp_path / "b")], default_site="app:SITE") == 0
    assert manifest_of(tmp_path / "b").built_at == 1700000000.0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert prerender_main(["--out", str(tmp_path / "c")], default_site="app:SITE") == 2
    assert "SOURCE_DATE_EPOCH" in capsys.readouterr().err

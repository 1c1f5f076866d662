"""scripts/prerender.py and scripts/copy_prerender.py: outputs, validation, safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import scripts.copy_prerender as copy_script
from seeding.config import SiteConfig
from seeding.layout import BUILD_FILE, parse_build_layout, parse_shard, route_shard, shard_file
from seeding.manifest import RouteStatus, parse_manifest
from seeding.routes import MANIFEST_FILE, Variant, variant_file
from tests.unit.conftest import prerender
from tests.unit.fakes import FakeClock, FakeSite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def build(tmp_path: Path) -> Path:
    return await prerender(FakeSite(), SiteConfig(), tmp_path / "build", FakeClock())


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    public = tmp_path / "public"
    public.mkdir()
    (public / "styles.css").write_text("body{}")
    return public


def run_copy(build: Path, assets: Path, *options: str) -> int:
    return copy_script.main([str(build), str(assets), *options])


def manifest_of(root: Path):
    return parse_manifest((root / MANIFEST_FILE).read_bytes())


def build_id_of(root: Path) -> str:
    """The build a prerender copy holds, in either layout."""
    if (root / BUILD_FILE).exists():
        return parse_build_layout((root / BUILD_FILE).read_bytes()).build.build_id
    return manifest_of(root).build_id


def sharded_bodies(root: Path) -> dict[tuple[str, Variant], bytes]:
    """Every body of a sharded copy, read back the way the Worker reads it."""
    layout = parse_build_layout((root / BUILD_FILE).read_bytes())
    bodies: dict[tuple[str, Variant], bytes] = {}
    for number in range(layout.shards):
        shard = parse_shard(
            (root / shard_file(number)).read_bytes(),
            shard_file(number),
            layout=layout,
            shard=number,
        )
        for route, record in shard.routes.items():
            for variant, where in record.variants.items():
                data = (root / where.file).read_bytes()
                assert len(data) == where.file_bytes
                bodies[route, variant] = data[where.offset : where.offset + where.bytes]
    return bodies


def test_prerender_records_every_route_with_its_status(build: Path) -> None:
    manifest = manifest_of(build)
    statuses = {path: rec.status for path, rec in manifest.routes.items()}
    assert statuses["/blog/first"] is RouteStatus.RENDERED
    assert statuses["/blog/late"] is RouteStatus.SKIPPED
    assert statuses["/now"] is RouteStatus.SKIPPED
    assert manifest.routes["/now"].reason == "shows the request time"
    blog = manifest.routes["/blog/first"]
    assert blog.revalidate == 60 and manifest.routes["/about"].revalidate is None
    assert set(blog.variants) == {Variant.HTML, Variant.DATA}
    for variant, record in blog.variants.items():
        assert (build / record.file).stat().st_size == record.bytes
        assert record.headers["content-type"] == variant.content_type


async def test_prerender_records_a_failing_route_and_exits_non_zero(tmp_path: Path, capsys) -> None:
    from scripts.prerender import write_build

    site = FakeSite()
    site.fail_routes.add("/blog/second")
    code = await write_build(site, SiteConfig(), tmp_path / "out")
    assert code == 1
    err = capsys.readouterr().err
    assert "/blog/second" in err and "RuntimeError: renderer broke on /blog/second" in err
    record = manifest_of(tmp_path / "out").routes["/blog/second"]
    assert record.status is RouteStatus.ERROR and "renderer broke" in record.reason


def test_copy_places_manifest_and_route_files_under_prerender(build: Path, assets: Path) -> None:
    assert run_copy(build, assets, "--layout", "manifest") == 0
    target = assets / "__prerender"
    assert manifest_of(target) == manifest_of(build)
    assert (target / variant_file("/about", Variant.HTML)).read_bytes() == (
        build / variant_file("/about", Variant.HTML)
    ).read_bytes()
    assert (assets / "styles.css").exists()
    assert not (target / BUILD_FILE).exists()


def test_copy_writes_the_sharded_layout_by_default(build: Path, assets: Path) -> None:
    assert run_copy(build, assets) == 0
    target = assets / "__prerender"
    manifest = manifest_of(build)
    layout = parse_build_layout((target / BUILD_FILE).read_bytes())
    assert layout.build == manifest.build and layout.routes == len(manifest.routes)
    # Only the layout's files: no manifest, no per-route file.
    assert not (target / MANIFEST_FILE).exists() and not (target / "routes").exists()
    shipped = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    count, plan = copy_script.plan_files(manifest, "sharded")
    assert plan is not None and shipped == sorted(plan.files()) and len(shipped) == count
    expected = {
        (route, variant): (build / info.file).read_bytes()
        for route, record in manifest.routes.items()
        for variant, info in record.variants.items()
    }
    assert sharded_bodies(target) == expected
    # Skipped routes are listed in their shard (exact membership), without bodies.
    number = route_shard("/now", layout.shards)
    shard = parse_shard(
        (target / shard_file(number)).read_bytes(), "s", layout=layout, shard=number
    )
    assert shard.routes["/now"].status is RouteStatus.SKIPPED
    assert not shard.routes["/now"].variants
    assert (assets / "styles.css").exists()


def test_copy_with_both_layouts_ships_both(build: Path, assets: Path) -> None:
    assert run_copy(build, assets, "--layout", "both") == 0
    target = assets / "__prerender"
    assert manifest_of(target) == manifest_of(build)
    assert build_id_of(target) == manifest_of(build).build_id
    for record in manifest_of(build).files():
        assert (target / record.file).read_bytes() == (build / record.file).read_bytes()
    assert len(sharded_bodies(target)) == sum(1 for _ in manifest_of(build).files())


def test_copy_refuses_an_unknown_layout(build: Path, assets: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run_copy(build, assets, "--layout", "zip")
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


async def test_copy_replaces_the_previous_copy_whole(
    build: Path, assets: Path, tmp_path: Path
) -> None:
    assert run_copy(build, assets) == 0
    stray = assets / "__prerender" / "routes" / "zz" / "old.html"
    stray.parent.mkdir(parents=True)
    stray.write_text("from an older build")
    second = await prerender(FakeSite(), SiteConfig(), tmp_path / "build2", FakeClock(2e9))
    assert run_copy(second, assets) == 0
    assert not stray.exists()
    assert build_id_of(assets / "__prerender") == manifest_of(second).build_id
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]
    assert leftovers == []


def test_copy_refuses_a_manifest_pointing_outside_the_build(
    build: Path, assets: Path, capsys
) -> None:
    path = build / MANIFEST_FILE
    doc = json.loads(path.read_text())
    doc["routes"]["/about"]["variants"]["html"]["file"] = "../../../etc/passwd"
    path.write_text(json.dumps(doc))
    assert run_copy(build, assets) == 1
    assert "routes['/about'].variants.html.file" in capsys.readouterr().err
    assert not (assets / "__prerender").exists()


def test_copy_refuses_a_symlinked_route_file(
    build: Path, assets: Path, tmp_path: Path, capsys
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x" * (build / variant_file("/about", Variant.HTML)).stat().st_size)
    file = build / variant_file("/about", Variant.HTML)
    file.unlink()
    file.symlink_to(secret)
    assert run_copy(build, assets) == 1
    assert "symlink" in capsys.readouterr().err


def test_copy_refuses_a_symlinked_target(build: Path, assets: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (assets / "__prerender").symlink_to(elsewhere)
    assert run_copy(build, assets) == 1
    assert list(elsewhere.iterdir()) == []


def test_copy_refuses_a_file_over_25_mib(build: Path, assets: Path, capsys) -> None:
    file = build / variant_file("/about", Variant.HTML)
    size = 25 * 1024 * 1024 + 1
    with file.open("wb") as f:
        f.truncate(size)
    path = build / MANIFEST_FILE
    doc = json.loads(path.read_text())
    doc["routes"]["/about"]["variants"]["html"]["bytes"] = size
    path.write_text(json.dumps(doc))
    assert run_copy(build, assets) == 1
    assert "25 MiB" in capsys.readouterr().err


def test_copy_refuses_a_missing_listed_file(build: Path, assets: Path, capsys) -> None:
    (build / variant_file("/blog/first", Variant.DATA)).unlink()
    assert run_copy(build, assets) == 1
    err = capsys.readouterr().err
    assert "routes['/blog/first'].variants.data.file" in err and "does not exist" in err


def test_copy_refuses_a_missing_build_dir_and_assets_dir(
    tmp_path: Path, build: Path, assets: Path
) -> None:
    assert run_copy(tmp_path / "nope", assets) == 1
    assert run_copy(build, tmp_path / "no-public") == 1


def test_copy_warns_near_the_free_plan_limit_and_refuses_over_the_paid_one(
    build: Path, assets: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(copy_script, "count_public_files", lambda _: 18_500)
    assert run_copy(build, assets) == 0
    assert "Free plan allows 20000" in capsys.readouterr().err
    monkeypatch.setattr(copy_script, "count_public_files", lambda _: 100_000)
    assert run_copy(build, assets) == 1
    assert "over the 100000" in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["sharded", "manifest", "both"])
def test_the_file_limit_counts_the_files_the_layout_uploads(
    build: Path, assets: Path, monkeypatch, capsys, layout: str
) -> None:
    count, _ = copy_script.plan_files(manifest_of(build), layout)
    public = copy_script.count_public_files(assets)
    monkeypatch.setattr(copy_script, "PAID_PLAN_FILES", public + count)
    assert run_copy(build, assets, "--layout", layout) == 0
    shipped = sum(1 for p in (assets / "__prerender").rglob("*") if p.is_file())
    assert shipped == count
    monkeypatch.setattr(copy_script, "PAID_PLAN_FILES", public + count - 1)
    assert run_copy(build, assets, "--layout", layout) == 1
    assert f"{public + count} files after the copy" in capsys.readouterr().err


async def test_an_interrupted_copy_leaves_the_previous_copy_intact(
    build: Path, assets: Path, tmp_path: Path, monkeypatch
) -> None:
    assert run_copy(build, assets, "--layout", "both") == 0
    before = manifest_of(assets / "__prerender")
    bodies = sharded_bodies(assets / "__prerender")
    second = await prerender(FakeSite(), SiteConfig(), tmp_path / "build2", FakeClock(2e9))
    real_emit = copy_script.emit_file
    written = []

    def write_then_die(destination, content):
        if len(written) == 3:
            raise KeyboardInterrupt  # Ctrl-C halfway
        written.append(destination)
        return real_emit(destination, content)

    monkeypatch.setattr(copy_script, "emit_file", write_then_die)
    for layout in ["sharded", "manifest"]:
        written.clear()
        with pytest.raises(KeyboardInterrupt):
            run_copy(second, assets, "--layout", layout)
        assert manifest_of(assets / "__prerender") == before
        for record in before.files():
            assert (assets / "__prerender" / record.file).stat().st_size == record.bytes
        assert sharded_bodies(assets / "__prerender") == bodies
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]


def test_a_copy_killed_between_its_renames_is_recovered_by_the_next_run(
    build: Path, assets: Path, tmp_path: Path
) -> None:
    assert run_copy(build, assets) == 0
    # The state a SIGKILL leaves between "old copy moved aside" and "new copy in place".
    (assets / "__prerender").rename(tmp_path / ".__prerender-old-x")
    (tmp_path / ".__prerender-staging-y").mkdir()
    assert run_copy(build, assets) == 0
    assert build_id_of(assets / "__prerender") == manifest_of(build).build_id
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]


def test_copy_killed_with_sigkill_keeps_the_old_copy(
    build: Path, assets: Path, tmp_path: Path
) -> None:
    assert run_copy(build, assets) == 0
    before = build_id_of(assets / "__prerender")
    # A copy that stops at its first file write, killed from outside.
    script = (
        "import os, signal, sys, shutil\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'src')!r}]\n"
        "import scripts.copy_prerender as c\n"
        "c.emit_file = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"c.main([{str(build)!r}, {str(assets)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert build_id_of(assets / "__prerender") == before
    assert run_copy(build, assets) == 0  # and the next run cleans up after it
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".__prerender")]


def test_copy_usage_errors_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/copy_prerender.py")], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "usage" in proc.stderr
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "scripts/copy_prerender.py"), "--help"],
        capture_output=True,
        text=True,
    ).stdout
    assert "Exit codes: 0 done, 1 invalid input, 2 usage" in help_text


@pytest.mark.parametrize("layout", ["sharded", "manifest"])
def test_prerender_then_copy_round_trips_the_example_site(tmp_path: Path, layout: str) -> None:
    env = {**os.environ, "PYTHONPATH": ""}
    out, public = tmp_path / "build", tmp_path / "public"
    public.mkdir()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/prerender.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "rendered" in proc.stdout  # progress lines
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/copy_prerender.py"),
            str(out),
            str(public),
            "--layout",
            layout,
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
    target = public / "__prerender"
    if layout == "manifest":
        assert manifest_of(target) == manifest
        for record in manifest.files():
            assert (target / record.file).read_bytes() == (out / record.file).read_bytes()
    else:
        assert sharded_bodies(target) == {
            (route, variant): (out / info.file).read_bytes()
            for route, record in manifest.routes.items()
            for variant, info in record.variants.items()
        }

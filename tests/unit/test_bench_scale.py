"""The scale benchmark's inputs, in CPython: the synthetic site, the files each layout
uploads, the route filter on unlisted paths, the single-manifest baseline and the cache
of laid-out sites."""

from __future__ import annotations

import contextlib
import io
import types
from pathlib import Path

import pytest

from bench import projects, sites
from bench.baselines.manifest_layout import (
    cold_seed,
    copy_manifest_layout,
    manifest_layout_files,
)
from bench.scale import fetching_share, file_budgets, load_identity_module, unlisted_keys
from bench.synthetic_site import (
    DEFAULT_DATA_BYTES,
    DEFAULT_HTML_BYTES,
    SiteSpec,
    synthetic_manifest,
    write_site,
)
from seeding.build.copy import copy_build
from seeding.build.manifest import MANIFEST_FILE, parse_manifest
from seeding.routes import Variant, validate_route_key
from seeding.schema import RouteStatus
from seeding.seed.build_identity import identity_of


def test_the_synthetic_site_is_a_valid_deterministic_build(tmp_path: Path) -> None:
    spec = SiteSpec(300)
    written = write_site(spec, tmp_path / "one")
    assert written == synthetic_manifest(spec)  # the listing needs no page written
    assert parse_manifest((tmp_path / "one" / MANIFEST_FILE).read_bytes()) == written
    write_site(spec, tmp_path / "two")
    for record in written.files():
        one = (tmp_path / "one" / record.file).read_bytes()
        assert one == (tmp_path / "two" / record.file).read_bytes()
        assert len(one) == record.bytes
    statuses = [r.status for r in written.routes.values()]
    assert statuses.count(RouteStatus.SKIPPED) == 5  # one in 50 is on demand
    for route, record in written.routes.items():
        validate_route_key(route, data_variant=True)
        if record.seedable:
            assert DEFAULT_HTML_BYTES[0] <= record.variants[Variant.HTML].bytes
            assert record.variants[Variant.DATA].bytes <= DEFAULT_DATA_BYTES[1]


def test_the_copy_step_takes_the_synthetic_site_as_a_real_build(tmp_path: Path) -> None:
    write_site(SiteSpec(300), tmp_path / "build")
    (tmp_path / "public").mkdir()
    (tmp_path / "worker").mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        result = copy_build(tmp_path / "build", tmp_path / "public", tmp_path / "worker")
    identity = load_identity_module(result.module)
    assert identity.routes == len(result.manifest.seedable())
    listed = [r.path for r in result.manifest.seedable()]
    assert fetching_share(identity, listed) == 1.0  # no listed route is ever turned away


def test_the_pack_layout_fits_the_plans_and_the_baseline_does_not() -> None:
    rows = {(r.routes, r.layout): r for r in file_budgets([15_000, 100_000])}
    assert rows[15_000, "packs"].files <= rows[15_000, "packs"].limit == 20_000
    assert rows[100_000, "packs"].files <= rows[100_000, "packs"].limit == 100_000
    assert rows[15_000, "manifest"].files > 20_000
    assert rows[100_000, "manifest"].files > 100_000


def test_unlisted_paths_fetch_in_under_one_percent_at_100000_routes() -> None:
    manifest = synthetic_manifest(SiteSpec(100_000))
    from seeding.build.plan import plan_packs

    module = plan_packs(manifest).build_module()
    namespace = types.SimpleNamespace()
    exec(module, vars(namespace))
    identity = identity_of(namespace)
    assert fetching_share(identity, unlisted_keys(20_000)) < 0.01
    assert set(unlisted_keys(50)).isdisjoint(manifest.routes)


def test_the_baseline_reads_the_whole_manifest_then_one_file(tmp_path: Path) -> None:
    manifest = write_site(SiteSpec(120), tmp_path / "build")
    assert manifest_layout_files(manifest) == 2 * len(manifest.seedable()) + 1
    target = copy_manifest_layout(tmp_path / "build", tmp_path / "public")
    assert (target / MANIFEST_FILE).stat().st_ino == (
        tmp_path / "build" / MANIFEST_FILE
    ).stat().st_ino
    route = manifest.seedable()[3].path
    seed = cold_seed(tmp_path / "build", route)
    manifest_bytes = (tmp_path / "build" / MANIFEST_FILE).stat().st_size
    html = manifest.routes[route].variants[Variant.HTML].bytes
    assert (seed.fetches, seed.bytes_fetched) == (2, manifest_bytes + html)
    with pytest.raises(ValueError):
        cold_seed(tmp_path / "build", "/no/such/route")


def test_laid_out_sites_are_made_once_and_remade_when_their_code_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sites.synthetic_build(60, tmp_path)
    stamp = (first / MANIFEST_FILE).stat().st_mtime_ns
    assert sites.synthetic_build(60, tmp_path) == first
    assert (first / MANIFEST_FILE).stat().st_mtime_ns == stamp
    laid = sites.synthetic_layout(60, "packs", tmp_path)
    assert laid.build_module is not None and list((laid.assets / "__prerender" / "packs").iterdir())
    assert sites.synthetic_layout(60, "manifest", tmp_path).build_module is None
    monkeypatch.setattr(projects, "source_digest", lambda paths: "other")
    second = sites.synthetic_build(60, tmp_path)
    assert second != first and not first.exists()
    with pytest.raises(ValueError):
        sites.synthetic_layout(60, "both", tmp_path)


def test_a_project_serves_a_copy_of_its_sources_with_the_settings_asked(tmp_path: Path) -> None:
    src = projects.write_worker(tmp_path / "src-in", projects.CONSTANT_ENTRY)
    (src / "prerender_build.py").write_text("stale")
    project = projects.make_project(tmp_path / "p", src=src, SEED_CACHE_MAX_BYTES="1000")
    assert (project / "src" / "entry.py").read_text() == projects.CONSTANT_ENTRY
    assert not (project / "src" / "prerender_build.py").exists()  # each project's own build
    text = (project / "wrangler.toml").read_text()
    assert 'SEED_CACHE_MAX_BYTES = "1000"' in text
    assert f'directory = "{(project / "public").resolve()}"' in text


def test_a_cold_seed_fetches_its_routes_pack_or_the_whole_manifest_and_its_file(
    tmp_path: Path,
) -> None:
    from bench.scale_runtime import bytes_per_seed, never_revalidating

    build = sites.synthetic_build(60, tmp_path)
    routes = never_revalidating(build, 5)
    packs = sites.synthetic_layout(60, "packs", tmp_path)
    sizes = sorted(p.stat().st_size for p in (packs.assets / "__prerender" / "packs").iterdir())
    assert all(size in sizes for size in bytes_per_seed(packs, build, routes))
    baseline = sites.synthetic_layout(60, "manifest", tmp_path)
    manifest = parse_manifest((build / MANIFEST_FILE).read_bytes())
    whole = (build / MANIFEST_FILE).stat().st_size
    assert bytes_per_seed(baseline, build, routes) == [
        whole + manifest.routes[r].variants[Variant.HTML].bytes for r in routes
    ]

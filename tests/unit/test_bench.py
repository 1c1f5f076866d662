"""bench/: the synthetic site generator and the scale checks the benchmarks rely on."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

import scripts.copy_prerender as copy_script
from bench.scale import cold_seed, layout_budget, main, sample_routes, within_ratio
from bench.synthetic_site import (
    DEFAULT_DATA_BYTES,
    DEFAULT_HTML_BYTES,
    SiteSpec,
    synthetic_manifest,
    write_site,
)
from seeding.manifest import RouteStatus, parse_manifest
from seeding.routes import MANIFEST_FILE, Variant, validate_route_key

ROOT = Path(__file__).resolve().parents[2]


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
        validate_route_key(route)
        if record.seedable:
            html = record.variants[Variant.HTML].bytes
            data = record.variants[Variant.DATA].bytes
            assert DEFAULT_HTML_BYTES[0] <= html <= DEFAULT_HTML_BYTES[1]
            assert DEFAULT_DATA_BYTES[0] <= data <= DEFAULT_DATA_BYTES[1]
    page = (tmp_path / "one" / written.routes["/about"].variants[Variant.HTML].file).read_text()
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    # And the copy script takes it as it takes a real build.
    (tmp_path / "public").mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        assert copy_script.copy_build(tmp_path / "one", tmp_path / "public") == 0


def test_the_synthetic_site_cli(tmp_path: Path) -> None:
    script = str(ROOT / "bench/synthetic_site.py")
    help_text = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--routes" in help_text and "--out" in help_text
    bad = subprocess.run(
        [sys.executable, script, "--routes", "5", "--out", str(tmp_path), "--html-bytes", "9-1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "MIN <= MAX" in bad.stderr
    done = subprocess.run(
        [sys.executable, script, "--routes", "20", "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "20 routes" in done.stdout and (tmp_path / "b" / MANIFEST_FILE).is_file()


def test_within_ratio() -> None:
    assert within_ratio(100, 120) and not within_ratio(100, 121)
    assert within_ratio(100, 50) and within_ratio(10, 14, limit=1.5)


def test_layout_budget_against_the_plans() -> None:
    small = layout_budget(synthetic_manifest(SiteSpec(1_000)), "manifest")
    assert small.files == 1 + 2 * 981 and small.fits_free and small.fits_paid
    big = layout_budget(synthetic_manifest(SiteSpec(15_000)), "manifest", measure_manifest=False)
    assert not big.fits_free and big.fits_paid
    sharded = layout_budget(synthetic_manifest(SiteSpec(15_000)), "sharded")
    assert sharded.fits_free and sharded.files < 8_000 and sharded.shards == 117


async def test_cold_seed_measures_a_fresh_isolate(tmp_path: Path) -> None:
    manifest = write_site(SiteSpec(200, html_bytes=(500, 600)), tmp_path / "build")
    (tmp_path / "public").mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        copy_script.copy_build(tmp_path / "build", tmp_path / "public")
    route = sample_routes(manifest, 3)[1]
    sharded = await cold_seed(tmp_path / "public" / "__prerender", route, "sharded", memory=True)
    assert sharded.seeded and len(sharded.fetches) == 3 and sharded.kept_bytes > 0
    baseline = await cold_seed(tmp_path / "build", route, "manifest")
    assert baseline.seeded and len(baseline.fetches) == 2
    assert baseline.bytes_fetched > sharded.bytes_fetched
    with pytest.raises(ValueError, match="index kind"):
        await cold_seed(tmp_path / "build", route, "bloom")


def test_the_scale_cli_plans(capsys) -> None:
    assert main(["plan", "--routes", "1000"]) == 0
    out = capsys.readouterr().out
    assert "sharded" in out and "manifest" in out

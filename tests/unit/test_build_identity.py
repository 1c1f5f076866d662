"""The build identity the Worker imports: the module the copy step writes parses back,
and a missing, broken or mismatched one makes every page render (logged once), never
a failure."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from seeding.config import SiteConfig
from seeding.schema import SchemaError
from seeding.seed.build_identity import check_site, load_identity, parse_identity
from tests.unit.support import build_once, copy, identity_of


@pytest.fixture
def deploy(tmp_path: Path):
    return copy(build_once(tmp_path / "build"), tmp_path / "public")


def test_the_written_module_is_the_build_it_was_made_from(deploy) -> None:
    identity = deploy.identity()
    assert identity.build_id == deploy.result.manifest.build_id
    assert identity.buckets == deploy.result.plan.buckets
    assert identity.routes == 5 and identity.data_variant is True
    assert identity.filter.data == deploy.result.plan.filter.data
    from seeding.seed.packs import RouteDigest

    assert identity.never_revalidates(RouteDigest.of("/about"))
    assert not identity.never_revalidates(RouteDigest.of("/blog/first"))  # revalidates
    assert not identity.never_revalidates(RouteDigest.of("/now"))  # not prerendered
    occupied = {bucket.bucket for bucket in deploy.result.plan.plans}
    assert {b for b in range(identity.buckets) if identity.holds_bucket(b)} == occupied


def test_importing_the_module_loads_the_identity(deploy, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(deploy.worker_dir))
    monkeypatch.delitem(sys.modules, "prerender_build", raising=False)
    identity = load_identity(SiteConfig(data_variant=True))
    assert identity is not None and identity.build_id == deploy.identity().build_id


def test_no_module_means_nothing_is_prerendered(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert load_identity(SiteConfig(), "no_such_build_module_here") is None
    assert "every page renders" in caplog.text


def test_a_build_for_other_url_settings_is_refused(deploy, monkeypatch, caplog) -> None:
    monkeypatch.syspath_prepend(str(deploy.worker_dir))
    monkeypatch.delitem(sys.modules, "prerender_build", raising=False)
    assert load_identity(SiteConfig(data_variant=True, trailing_slash=True)) is None
    assert "basePath/trailingSlash/dataVariant" in caplog.text
    with pytest.raises(SchemaError):
        check_site(deploy.identity(), SiteConfig(base_path="/docs", data_variant=True))


@pytest.mark.parametrize(
    ("build", "filter_b64", "field"),
    [
        (None, "", "BUILD"),
        ("{", "", "(document)"),
        ('{"schema": "x", "version": 2}', "", "schema"),
        (
            '{"schema": "lazy-seed.prerender-build", "version": 2, "buildId": "b", '
            '"builtAt": 1, "buckets": 0, "routes": 0, "filter": {"bits": 8, "hashes": 1}}',
            "AA==",
            "buckets",
        ),
        (
            '{"schema": "lazy-seed.prerender-build", "version": 2, "buildId": "b", '
            '"builtAt": 1, "buckets": 1, "routes": 0, "filter": {"bits": 64, "hashes": 1}}',
            "AA==",
            "FILTER",
        ),
        (
            '{"schema": "lazy-seed.prerender-build", "version": 2, "buildId": "b", '
            '"builtAt": 1, "buckets": 9, "routes": 0, "filter": {"bits": 8, "hashes": 1}}',
            "AA==",
            "OCCUPIED",
        ),
        (
            '{"schema": "lazy-seed.prerender-build", "version": 2, "buildId": "b", '
            '"builtAt": 1, "buckets": 1, "routes": 0, "filter": {"bits": 8, "hashes": 1}}',
            "AA==",
            "static",
        ),
    ],
)
def test_a_broken_identity_is_refused_naming_the_field(build, filter_b64, field) -> None:
    with pytest.raises(SchemaError) as info:
        parse_identity(build, filter_b64, "AA==", "AA==", "src/prerender_build.py")
    assert info.value.field_name == field


def test_an_edited_module_is_refused_when_imported(deploy, monkeypatch, caplog) -> None:
    text = deploy.module.read_text().replace('"buckets": ', '"buckets": -')
    deploy.module.write_text(text)
    with pytest.raises(SchemaError):
        identity_of(deploy.module)
    monkeypatch.syspath_prepend(str(deploy.worker_dir))
    monkeypatch.delitem(sys.modules, "prerender_build", raising=False)
    assert load_identity(SiteConfig(data_variant=True)) is None
    assert "buckets" in caplog.text

"""Settings read from wrangler vars, and the site config the manifest must agree with."""

from __future__ import annotations

from pathlib import Path

import pytest

from seeding.cache import DEFAULT_MAX_BYTES, MemoryCache
from seeding.config import ConfigError, SiteConfig, cache_budget
from seeding.handler import SiteHandler
from seeding.route_index import ManifestIndex
from tests.unit.conftest import make_harness


def test_cache_budget_defaults_when_unset_and_reads_the_var() -> None:
    assert cache_budget({}) == DEFAULT_MAX_BYTES
    assert cache_budget({"SEED_CACHE_MAX_BYTES": ""}) == DEFAULT_MAX_BYTES
    assert cache_budget({"SEED_CACHE_MAX_BYTES": " 1048576 "}) == 1048576


@pytest.mark.parametrize("value", ["32MB", "-5", "1.5", "100"])
def test_bad_cache_budgets_name_the_var_and_the_fix(value: str) -> None:
    with pytest.raises(ConfigError, match="SEED_CACHE_MAX_BYTES"):
        cache_budget({"SEED_CACHE_MAX_BYTES": value})


async def test_a_manifest_built_with_another_base_path_is_refused_once(
    tmp_path: Path, caplog
) -> None:
    h = await make_harness(tmp_path, SiteConfig(base_path="/docs"))
    # The Worker is deployed with a different config than the build was made with.
    h.handler = SiteHandler(
        h.site, SiteConfig(), MemoryCache(1 << 20), ManifestIndex(h.clock), h.clock
    )
    for _ in range(3):
        assert (await h.get("/about")).status == 200
    assert h.assets.fetches("manifest") == 1
    assert "basePath/trailingSlash" in (h.index.permanent_error or "")
    assert caplog.text.count("manifest rejected") == 1

"""Settings read from wrangler vars: one parser, one error path, defaults kept."""

from __future__ import annotations

import pytest

from seeding.config import VARS, Settings, settings_from_vars
from seeding.primitives.cache import DEFAULT_MAX_BYTES


def settings(**vars: object) -> tuple[Settings, list[str]]:
    return settings_from_vars(vars.get)


def test_unset_or_empty_vars_give_the_defaults() -> None:
    assert settings() == (Settings(), [])
    assert settings(SEED_CACHE_MAX_BYTES="") == (Settings(), [])
    assert Settings().cache_max_bytes == DEFAULT_MAX_BYTES


def test_a_var_is_read_and_trimmed() -> None:
    parsed, errors = settings(SEED_CACHE_MAX_BYTES=" 1048576 ")
    assert parsed.cache_max_bytes == 1048576 and errors == []


@pytest.mark.parametrize("value", ["32MB", "-5", "1.5", "100"])
def test_a_bad_var_keeps_its_default_and_names_the_var_and_the_fix(value: str) -> None:
    parsed, errors = settings(SEED_CACHE_MAX_BYTES=value)
    assert parsed.cache_max_bytes == DEFAULT_MAX_BYTES
    assert len(errors) == 1
    assert "SEED_CACHE_MAX_BYTES" in errors[0] and "using the default" in errors[0]


def test_every_var_maps_to_a_setting() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert {attribute for attribute, _ in VARS.values()} <= fields

"""ExpiringKeys: a key is remembered until its time, and the set stays bounded."""

from __future__ import annotations

import pytest

from seeding.flow.memo import ExpiringKeys


def test_a_key_is_held_until_its_time_then_forgotten() -> None:
    keys = ExpiringKeys()
    keys.remember("a", until=10.0)
    assert keys.holds("a", 9.9)
    assert not keys.holds("a", 10.0)
    assert len(keys) == 0


def test_the_oldest_remembered_key_goes_first_when_full() -> None:
    keys = ExpiringKeys(max_keys=2)
    keys.remember("a", 100.0)
    keys.remember("b", 100.0)
    keys.remember("a", 100.0)  # remembered again: now the newest
    keys.remember("c", 100.0)
    assert keys.holds("a", 0.0) and keys.holds("c", 0.0)
    assert not keys.holds("b", 0.0)
    assert len(keys) == 2


def test_forget_drops_a_key() -> None:
    keys = ExpiringKeys()
    keys.remember("a", 100.0)
    keys.forget("a")
    keys.forget("never there")
    assert not keys.holds("a", 0.0)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        ExpiringKeys(0)

"""ExpiringMap: a bounded map whose items expire, with time as an argument."""

from __future__ import annotations

import math

import pytest

from seeding.primitives.expiring import ExpiringMap

T = 1000.0


def test_an_item_is_live_until_its_expiry_and_absent_from_that_instant() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    items.set("a", 1, expires_at=T + 5, now=T)
    assert items.get("a", T + 4.999) == 1 and items.contains("a", T + 4.999)
    assert items.get("a", T + 5) is None
    assert not items.contains("a", T + 5)
    assert len(items) == 0  # met expired: dropped


def test_an_absent_or_expired_key_answers_the_default_given() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    assert items.get("a", T, -1) == -1
    items.set("a", 1, expires_at=T + 1, now=T)
    assert items.get("a", T + 2, -1) == -1


def test_a_none_value_is_told_apart_from_absence() -> None:
    items: ExpiringMap[str, None] = ExpiringMap(4)
    items.set("a", None, expires_at=T + 1, now=T)
    assert items.contains("a", T) and not items.contains("b", T)


def test_an_item_set_already_expired_is_not_stored_and_forgets_the_key() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    items.set("a", 1, expires_at=T + 10, now=T)
    items.set("a", 2, expires_at=T, now=T)
    assert not items.contains("a", T) and len(items) == 0


def test_an_infinite_expiry_never_expires() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    items.set("a", 1, expires_at=math.inf, now=T)
    assert items.get("a", 1e300) == 1 and items.expires_at("a", T) == math.inf


def test_a_nan_expiry_is_refused() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    with pytest.raises(ValueError, match="NaN"):
        items.set("a", 1, expires_at=math.nan, now=T)
    assert len(items) == 0


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, True, "4"])
def test_a_maxsize_that_is_not_a_positive_integer_is_refused(maxsize: object) -> None:
    with pytest.raises(ValueError, match="maxsize"):
        ExpiringMap(maxsize)  # type: ignore[arg-type]


def test_when_full_the_oldest_set_item_is_evicted() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(3)
    for i, key in enumerate("abc"):
        items.set(key, i, expires_at=T + 100, now=T)
    items.get("a", T)  # reading does not make it newer
    items.set("d", 3, expires_at=T + 100, now=T)
    assert len(items) == 3 == items.maxsize
    assert not items.contains("a", T)
    assert [items.get(k, T) for k in "bcd"] == [1, 2, 3]


def test_setting_a_key_again_makes_it_the_newest_with_its_new_expiry() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(2)
    items.set("a", 1, expires_at=T + 1, now=T)
    items.set("b", 2, expires_at=T + 100, now=T)
    items.set("a", 3, expires_at=T + 100, now=T)
    items.set("c", 4, expires_at=T + 100, now=T)  # evicts b, now the oldest
    assert items.get("a", T + 50) == 3 and not items.contains("b", T)
    assert items.expires_at("a", T) == T + 100


def test_a_new_key_drops_expired_items_before_evicting_a_live_one() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(3)
    items.set("short1", 1, expires_at=T + 1, now=T)
    items.set("short2", 2, expires_at=T + 1, now=T)
    items.set("long", 3, expires_at=T + 100, now=T)
    items.set("new", 4, expires_at=T + 100, now=T + 2)
    assert len(items) == 2
    assert items.get("long", T + 2) == 3 and items.get("new", T + 2) == 4


def test_pop_answers_the_live_value_and_forgets_the_key() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    items.set("a", 1, expires_at=T + 1, now=T)
    items.set("b", 2, expires_at=T + 1, now=T)
    assert items.pop("a", T) == 1 and not items.contains("a", T)
    assert items.pop("b", T + 1, -1) == -1 and len(items) == 0  # expired: default, gone
    assert items.pop("missing", T) is None


def test_discard_forgets_a_key_live_or_not() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    items.set("a", 1, expires_at=T + 1, now=T)
    items.discard("a")
    items.discard("never there")
    assert len(items) == 0


def test_expire_drops_every_expired_item_wherever_it_sits() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(8)
    items.set("long", 0, expires_at=T + 100, now=T)
    for i in range(3):
        items.set(f"short{i}", i, expires_at=T + 1, now=T)
    assert len(items) == 4
    assert items.expire(T + 1) == 3
    assert len(items) == 1 and items.contains("long", T + 1)


def test_a_stream_of_unique_keys_never_grows_past_maxsize() -> None:
    items: ExpiringMap[int, None] = ExpiringMap(100)
    for i in range(10_000):
        items.set(i, None, expires_at=T + 1_000, now=T + i * 0.01)
        assert len(items) <= 100
    assert items.contains(9_999, T + 100)


def test_clear_forgets_everything() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(4)
    items.set("a", 1, expires_at=math.inf, now=T)
    items.clear()
    assert len(items) == 0 and not items.contains("a", T)

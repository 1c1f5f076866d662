"""The memory cache as a data structure: LRU order, byte budget, statistics."""

from __future__ import annotations

import pytest

from seeding.primitives.cache import ENTRY_OVERHEAD_BYTES, CacheEntry, MemoryCache, cache_key
from seeding.routes import Variant


def entry(size: int, **kw) -> CacheEntry:
    return CacheEntry(body=b"x" * size, status=200, headers={}, generated_at=0.0, **kw)


def test_least_recently_used_entry_is_evicted_first() -> None:
    per = 100 + ENTRY_OVERHEAD_BYTES + 1
    cache = MemoryCache(max_bytes=per * 3)
    for key in "abc":
        cache.set(key, entry(100))
    cache.get("a")  # a is now the most recent
    cache.set("d", entry(100))
    assert "b" not in cache and {"a", "c", "d"} <= set(k for k in "acd" if k in cache)
    assert cache.stats.evictions == 1


def test_total_never_exceeds_the_budget() -> None:
    cache = MemoryCache(max_bytes=10_000)
    for i in range(500):
        cache.set(f"k{i}", entry(i * 7 % 3000))
        assert cache.bytes_used <= 10_000
    assert cache.stats.evictions > 0


def test_an_entry_larger_than_the_budget_is_refused_and_evicts_nothing() -> None:
    cache = MemoryCache(max_bytes=2000)
    cache.set("small", entry(10))
    assert cache.set("huge", entry(5000)) is False
    assert "small" in cache and "huge" not in cache
    assert cache.stats.rejected == 1


def test_replacing_a_key_accounts_bytes_once() -> None:
    cache = MemoryCache(max_bytes=100_000)
    cache.set("a", entry(1000))
    cache.set("a", entry(10))
    assert len(cache) == 1
    assert cache.bytes_used == entry(10).size + 1


def test_delete_and_clear_release_bytes() -> None:
    cache = MemoryCache(max_bytes=100_000)
    cache.set("a", entry(1000))
    cache.set("b", entry(1000))
    cache.delete("a")
    assert cache.bytes_used == entry(1000).size + 1
    cache.clear()
    assert cache.bytes_used == 0 and len(cache) == 0


def test_peek_does_not_change_recency() -> None:
    per = 10 + ENTRY_OVERHEAD_BYTES + 1
    cache = MemoryCache(max_bytes=per * 2)
    cache.set("a", entry(10))
    cache.set("b", entry(10))
    cache.peek("a")
    cache.set("c", entry(10))
    assert "a" not in cache


def test_keys_include_the_build_id() -> None:
    assert cache_key("b1", Variant.HTML, "/x") != cache_key("b2", Variant.HTML, "/x")
    assert cache_key("b1", Variant.HTML, "/x") != cache_key("b1", Variant.DATA, "/x")


def test_freshness_follows_revalidate_and_expire() -> None:
    e = CacheEntry(b"", 200, {}, generated_at=100.0, revalidate=10, expire=50)
    assert not e.is_stale(105) and e.is_stale(110) and not e.is_expired(149)
    assert e.is_expired(150)
    forever = CacheEntry(b"", 200, {}, generated_at=0.0)
    assert not forever.is_stale(1e12) and not forever.is_expired(1e12)


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryCache(0)

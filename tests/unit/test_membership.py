"""The route filter: never a false negative, false positives near the rate it was sized
for, and its size."""

from __future__ import annotations

import pytest

from seeding.seed.membership import FALSE_POSITIVE_RATE, RouteFilter, size_for
from seeding.seed.packs import RouteDigest


def test_every_listed_route_is_let_through() -> None:
    routes = [f"/blog/{n}" for n in range(5000)]
    route_filter = RouteFilter.of(routes, len(routes))
    assert all(route_filter.might_contain(RouteDigest.of(route)) for route in routes)


def test_unlisted_routes_are_turned_away_in_over_99_percent_of_cases() -> None:
    routes = [f"/blog/{n}" for n in range(20_000)]
    route_filter = RouteFilter.of(routes, len(routes))
    probes = [f"/other/{n}" for n in range(50_000)]
    let_through = sum(route_filter.might_contain(RouteDigest.of(p)) for p in probes)
    assert let_through / len(probes) < 0.01
    assert let_through / len(probes) < 2 * FALSE_POSITIVE_RATE


def test_the_size_for_100000_routes_is_about_11_bits_a_route() -> None:
    bits, hashes = size_for(100_000)
    assert 100_000 * 10 < bits < 100_000 * 12
    assert hashes == 8


def test_an_empty_filter_lets_nothing_through() -> None:
    route_filter = RouteFilter.of([], 0)
    assert not route_filter.might_contain(RouteDigest.of("/"))


def test_a_filter_needs_as_many_bytes_as_its_bits() -> None:
    with pytest.raises(ValueError, match="needs more data"):
        RouteFilter(b"\x00", 9, 1)

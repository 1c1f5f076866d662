"""The path contract: request path -> route key and variant, and back."""

from __future__ import annotations

import pytest

from seeding.routes import (
    InvalidRouteKey,
    RouteTarget,
    Variant,
    canonical_path,
    is_private_path,
    resolve_request_path,
    validate_route_key,
)

HTML, DATA = Variant.HTML, Variant.DATA


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", RouteTarget("/", HTML, True)),
        ("/about", RouteTarget("/about", HTML, True)),
        ("/about/", RouteTarget("/about", HTML, False)),
        ("/blog/hello", RouteTarget("/blog/hello", HTML, True)),
        ("/blog/hello.json", RouteTarget("/blog/hello", DATA, True)),
        ("/index.json", RouteTarget("/", DATA, True)),
        ("/caf%C3%A9", RouteTarget("/café", HTML, True)),
        ("/%61bout", RouteTarget("/about", HTML, True)),
    ],
)
def test_paths_resolve_to_route_keys(path: str, expected: RouteTarget) -> None:
    assert resolve_request_path(path, data_variant=True) == expected


def test_without_the_data_variant_json_paths_are_ordinary_routes() -> None:
    assert resolve_request_path("/api/items.json") == RouteTarget("/api/items.json", HTML, True)
    assert resolve_request_path("/index.json") == RouteTarget("/index.json", HTML, True)
    assert resolve_request_path("/index") == RouteTarget("/index", HTML, True)
    validate_route_key("/api/items.json")


def test_trailing_slash_on_makes_the_slashed_spelling_canonical() -> None:
    assert resolve_request_path("/about/", trailing_slash=True) == RouteTarget("/about", HTML, True)
    assert resolve_request_path("/about", trailing_slash=True) == RouteTarget("/about", HTML, False)
    assert resolve_request_path("/", trailing_slash=True) == RouteTarget("/", HTML, True)


def test_base_path_is_stripped_and_required() -> None:
    assert resolve_request_path("/docs", base_path="/docs") == RouteTarget("/", HTML, True)
    assert resolve_request_path("/docs/a", base_path="/docs") == RouteTarget("/a", HTML, True)
    assert resolve_request_path("/docsx/a", base_path="/docs") is None
    assert resolve_request_path("/a", base_path="/docs") is None


@pytest.mark.parametrize(
    "path",
    [
        "/%zz",
        "/%C3",
        "/a//b",
        "/a/../b",
        "/./a",
        "/a\\b",
        "/a%00b",
        "/" + "a" * 5000,
        "/index",
        "/_not-found",
        "relative",
        "/__prerender/x",
        "/.json",
    ],
)
def test_paths_that_cannot_be_routes_resolve_to_none(path: str) -> None:
    assert resolve_request_path(path, data_variant=True) is None


def test_canonical_paths_round_trip_through_resolution() -> None:
    for route in ["/", "/about", "/blog/x"]:
        for variant in Variant:
            for slash in (False, True):
                for base in ("", "/docs"):
                    path = canonical_path(route, variant, base_path=base, trailing_slash=slash)
                    target = resolve_request_path(
                        path, base_path=base, trailing_slash=slash, data_variant=True
                    )
                    assert target == RouteTarget(route, variant, True), path


@pytest.mark.parametrize(
    "path",
    [
        "/__prerender/meta/manifest.json",
        "/%5F%5Fprerender/x",
        "/%5f_prerender/x",
        "//__prerender/x",
        "/a/../__prerender/x",
        "/__PRERENDER/x",
        "/%255F_prerender/x",
        "/./__prerender",
        "/__prerender",
        "\\__prerender\\x",
    ],
)
def test_every_spelling_of_the_private_prefix_is_private(path: str) -> None:
    assert is_private_path(path)


@pytest.mark.parametrize(
    "path", ["/", "/about", "/prerender", "/__prerendered/x", "/a/__prerender"]
)
def test_ordinary_paths_are_not_private(path: str) -> None:
    assert not is_private_path(path)


@pytest.mark.parametrize(
    "route",
    [
        "",
        "about",
        "/a/",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/x.json",
        "/index",
        "/__prerender/a",
        "/a\x00",
    ],
)
def test_build_refuses_routes_the_run_time_could_not_resolve(route: str) -> None:
    with pytest.raises(InvalidRouteKey):
        validate_route_key(route, data_variant=True)

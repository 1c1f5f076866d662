"""Property tests of the path contract and the request flow under hostile paths.

For any request path the handler answers without raising and without a 5xx, asks
the asset store only for packs of routes the build rendered, and only for the route
the path itself resolves to. Every spelling of `/__prerender/`
answers 404 without a fetch or a render.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seeding.config import SiteConfig
from seeding.routes import (
    MAX_ROUTE_LENGTH,
    Variant,
    canonical_path,
    is_private_path,
    resolve_request_path,
    validate_route_key,
)
from tests.unit.fakes import FakeSite
from tests.unit.support import Deploy, Isolate, allowed_fetches, deploy_once, pack_path

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Pieces hostile paths are made of: separators and dot segments in every spelling,
# malformed and overlong escapes, control characters, non-ASCII (and a lone
# surrogate, which no UTF-8 encoder accepts), the data suffix, known routes.
PIECES = [
    "/", "//", "/./", "/../", ".", "..", "\\", "%2F", "%2f", "%2e", "%2E%2e", "%5C", "%5c",
    "%", "%z", "%zz", "%G0", "%C3", "%C3%A9", "%ff", "%FF%FE", "%C0%AF", "%E2%80%AE", "%00",
    "\x00", "\x7f", "\t", " ", "%20", "é", "日本", "\ud800", "\U0001f600", "İ",
    "about", "About", "ABOUT", "blog", "first", "late", "now", "index", "_not-found",
    ".json", ".JSON", ".json/", "index.json", "_", "__prerender", "%5F%5Fprerender",
    "meta", "manifest.json", "routes", "?", "#", "?q=1", ";", "@", ":", "%3F", "%23",
]  # fmt: skip
KNOWN = ["/", "/about", "/blog", "/blog/first", "/blog/second", "/blog/late", "/now"]

pieces = st.sampled_from(PIECES)
known_variants = st.builds(
    lambda route, suffix: ("/index" if route == "/" and suffix.startswith(".") else route) + suffix,
    st.sampled_from(KNOWN),
    st.sampled_from(["", "/", ".json", ".json/", ".JSON", "%2Ejson", ".js", "//", "/."]),
)
request_paths = st.one_of(
    st.lists(pieces, max_size=14).map(lambda ps: "/" + "".join(ps)),
    st.text(max_size=80).map(lambda t: "/" + t),
    st.lists(st.one_of(pieces, st.text(max_size=6)), max_size=8).map(
        lambda ps: "/".join(["", *ps])
    ),
    # Very long: around and far beyond the route length limit.
    st.builds(lambda p, n: "/" + p * n, pieces, st.integers(200, 4000)),
    st.builds(lambda n: "/" + "a" * n, st.integers(MAX_ROUTE_LENGTH - 2, 3 * MAX_ROUTE_LENGTH + 2)),
    known_variants,
)
CONFIGS = [
    SiteConfig(data_variant=True),
    SiteConfig(trailing_slash=True, data_variant=True),
    SiteConfig(base_path="/docs", data_variant=True),
    SiteConfig(),
]
configs = st.sampled_from(CONFIGS)


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[SiteConfig, Deploy]:
    """The fake site built and copied for each config."""
    root = tmp_path_factory.mktemp("builds")
    return {
        config: deploy_once(root / f"site{n}", FakeSite(config)) for n, config in enumerate(CONFIGS)
    }


# -- the pure path contract ------------------------------------------------------------


@SETTINGS
@given(
    path=request_paths,
    base_path=st.sampled_from(["", "/docs"]),
    slash=st.booleans(),
    data=st.booleans(),
)
def test_resolve_never_raises_and_yields_only_valid_route_keys(
    path: str, base_path: str, slash: bool, data: bool
) -> None:
    target = resolve_request_path(
        path, base_path=base_path, trailing_slash=slash, data_variant=data
    )
    assert is_private_path(path) in (True, False)
    if target is None:
        return
    validate_route_key(target.route, data_variant=data)  # raises on an invalid key
    # The canonical spelling, as the redirect quotes it, resolves to the same target,
    # canonically: a redirect can never loop or land on another route.
    canonical = canonical_path(
        target.route, target.variant, base_path=base_path, trailing_slash=slash
    )
    again = resolve_request_path(
        _quote(canonical), base_path=base_path, trailing_slash=slash, data_variant=data
    )
    assert again is not None
    assert (again.route, again.variant, again.canonical) == (target.route, target.variant, True)


@SETTINGS
@given(st.text(max_size=200))
def test_resolve_and_private_check_never_raise_for_any_text(text: str) -> None:
    for candidate in (text, "/" + text):
        target = resolve_request_path(candidate)
        is_private_path(candidate)
        if target is not None:
            validate_route_key(target.route)


@pytest.mark.parametrize("char", ["a", "é", "日", "\U0001f600"])
@pytest.mark.parametrize("variant", list(Variant))
def test_the_longest_valid_route_is_reachable_at_its_encoded_canonical_path(
    char: str, variant: Variant
) -> None:
    # The build accepts any route `validate_route_key` accepts, so every one of them
    # must resolve from the percent-encoded path a browser sends.
    route = "/" + char * (MAX_ROUTE_LENGTH - 1)
    validate_route_key(route)
    for base_path in ("", "/docs"):
        path = _quote(canonical_path(route, variant, base_path=base_path))
        target = resolve_request_path(path, base_path=base_path, data_variant=True)
        assert target is not None and (target.route, target.variant) == (route, variant)


def test_lone_surrogates_are_not_route_keys() -> None:
    # No UTF-8 encoder accepts them, so they can have no file (variant_file hashes the
    # UTF-8 bytes) and no renderer can be asked for them.
    for path in ["/a\ud800", "/%61\ud800", "/\udcff.json"]:
        assert resolve_request_path(path) is None
    with pytest.raises(ValueError):
        validate_route_key("/a\ud800")


# -- spellings of the private prefix ---------------------------------------------------


def _encode(ch: str, depth: int, upper: bool) -> str:
    out = "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in ch.encode())
    for _ in range(depth - 1):
        out = out.replace("%", "%25")
    return out


@st.composite
def spelled(draw, text: str, max_depth: int = 3) -> str:
    """`text` with each character kept, case-swapped or percent-encoded (to a depth)."""
    out = []
    for ch in text:
        how = draw(st.sampled_from(["keep", "keep", "case", "encode"]))
        if how == "case":
            out.append(ch.swapcase())
        elif how == "encode":
            depth = draw(st.integers(1, max_depth))
            out.append(_encode(ch, depth, draw(st.booleans())))
        else:
            out.append(ch)
    return "".join(out)


SEPARATORS = ["/", "//", "\\", "/./", "%2F", "%2f", "%5C", "%252F", "/%2e/", "///"]
LEADS = ["/", "//", "/./", "/a/../", "/%2e%2e/", "/x/%2E%2E/", "/%2F", "/%5C", "/\\", "/a/b/../../"]
TAILS = [
    "", "meta/manifest.json", "meta/manifest", "routes/ab/ab.html", "routes/ab/ab.json",
    "x", "x/", "index.json", "about.json", "a/b/c", "%zz", "%ff", "x%C3", "\x00", "a\\b",
]  # fmt: skip


@st.composite
def private_spellings(draw) -> str:
    lead = draw(st.sampled_from(LEADS))
    name = draw(spelled("__prerender"))
    rest = ""
    if draw(st.booleans()):
        rest = draw(st.sampled_from(SEPARATORS)) + draw(spelled(draw(st.sampled_from(TAILS)), 1))
        if draw(st.booleans()):
            rest += draw(st.sampled_from([".json", "%2Ejson", ".JSON", "/"]))
    return lead + name + rest


@SETTINGS
@given(path=private_spellings())
def test_every_spelling_of_the_private_prefix_is_private(path: str) -> None:
    assert is_private_path(path), path


@pytest.mark.parametrize(
    "path",
    [
        "/%5F_prerender/%zz",  # a malformed escape elsewhere does not hide the prefix
        "/%5F_prerender/meta/%ff",  # nor does an escape that is not UTF-8
        "/%5f_PRERENDER/meta/manifest%2Ejson%",
        "/__prerender",
        "/a/%2e%2e/%255F_prerender/x.json",
    ],
)
def test_private_prefix_with_malformed_tails(path: str) -> None:
    assert is_private_path(path)


@SETTINGS
@given(path=private_spellings(), query=st.sampled_from(["", "?x=1", "?__prerender/x"]))
def test_private_spellings_answer_404_without_fetch_or_render(
    roots: dict[SiteConfig, Deploy], path: str, query: str
) -> None:
    isolate = Isolate(roots[CONFIGS[0]])
    response = isolate.get(path + query)
    assert response.status == 404, path
    assert isolate.assets.log == []
    assert isolate.site.renders == []
    assert b"__prerender" not in response.body


# -- the handler under any request path ------------------------------------------------


@SETTINGS
@given(
    config=configs,
    paths=st.lists(request_paths, min_size=1, max_size=4),
    head=st.booleans(),
)
def test_any_request_path_is_answered_without_5xx_or_foreign_fetches(
    roots: dict[SiteConfig, Deploy],
    config: SiteConfig,
    paths: list[str],
    head: bool,
) -> None:
    deploy = roots[config]
    allowed = allowed_fetches(deploy)
    # One isolate serves the whole sequence.
    isolate = Isolate(deploy, FakeSite(config))
    for path in paths:
        before = len(isolate.assets.log)
        response = isolate.get(path, method="HEAD" if head else "GET")
        assert 100 <= response.status < 500, (path, response.status, response.body[:200])
        fetched = isolate.assets.log[before:]
        for asset in fetched:
            assert asset in allowed, asset  # only packs that exist: empty buckets are known
        if fetched:
            # A pack is fetched only for the route this very path names (or for a path
            # the route filter let through: then its own bucket's pack).
            target = resolve_request_path(
                urlsplit("https://example.com" + path).path or "/",
                base_path=config.base_path,
                trailing_slash=config.trailing_slash,
                data_variant=config.data_variant,
            )
            assert target is not None and target.canonical
            assert fetched == [pack_path(deploy.identity(), target.route)], (path, fetched)
        if response.status in (301, 302, 307, 308):
            location = response.headers["location"]
            assert location.startswith("/") and not location.startswith(("//", "/\\"))
            follow = isolate.get(location)
            assert follow.status not in (301, 302, 307, 308), (path, location)


@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[2]])
async def test_data_variants_of_known_routes_are_seeded(
    roots: dict[SiteConfig, Deploy], config: SiteConfig
) -> None:
    isolate = Isolate(roots[config], FakeSite(config))
    for route in ["/", "/about", "/blog/first"]:
        path = canonical_path(route, Variant.DATA, base_path=config.base_path)
        response = await isolate.request(path)
        assert response.status == 200 and response.headers["x-cache-status"] == "HIT", path
    assert isolate.site.renders == []


def _quote(path: str) -> str:
    from urllib.parse import quote

    # As the handler quotes a redirect's Location.
    return quote(path, safe="/:@!$&'()*+,;=-._~")

"""The storage decision on its own: each rule once, with the page that passes every
other rule, so a rule that stopped refusing would fail its own test."""

from __future__ import annotations

import pytest

from seeding.flow.storable import PER_REQUEST_RULES, Rule, Source, refusal

ALLOWED = {"content-type": "text/html"}


def decide(**changes: object):
    traits: dict[str, object] = {
        "source": Source.RENDER,
        "status": 200,
        "headers": ALLOWED,
        "size": 1000,
        "budget": 10_000,
    }
    traits.update(changes)
    return refusal(**traits)  # type: ignore[arg-type]


def rule_of(**changes: object) -> Rule | None:
    refused = decide(**changes)
    return None if refused is None else refused.rule


@pytest.mark.parametrize("source", list(Source))
def test_a_plain_200_page_may_be_stored_from_every_source(source: Source) -> None:
    assert decide(source=source) is None


def test_a_request_with_credentials_is_never_stored() -> None:
    assert rule_of(credentials=True) is Rule.CREDENTIALS


def test_a_request_with_a_query_string_is_never_stored() -> None:
    assert rule_of(query=True) is Rule.QUERY


def test_a_dynamic_page_is_never_stored() -> None:
    assert rule_of(dynamic=True) is Rule.DYNAMIC


@pytest.mark.parametrize("status", [201, 204, 206, 301, 302, 307, 308, 400, 410, 500, 503])
@pytest.mark.parametrize("source", list(Source))
def test_only_200_and_404_are_stored(status: int, source: Source) -> None:
    assert rule_of(status=status, source=source) is Rule.STATUS


@pytest.mark.parametrize(
    ("source", "stored"),
    [
        (Source.RENDER, False),  # a scan of unknown paths must not fill the cache
        (Source.REGENERATION, True),  # the page is gone
        (Source.SHARED, True),
        (Source.SEED, True),
    ],
)
def test_a_404_is_stored_only_where_it_replaces_a_page(source: Source, stored: bool) -> None:
    assert (decide(status=404, source=source) is None) is stored


@pytest.mark.parametrize("source", list(Source))
def test_a_page_that_sets_a_cookie_is_never_stored(source: Source) -> None:
    assert rule_of(source=source, headers={**ALLOWED, "set-cookie": "a=1"}) is Rule.COOKIE
    assert rule_of(source=source, status=404, headers={"set-cookie": "a=1"}) in (
        Rule.COOKIE,
        Rule.STATUS,
    )


@pytest.mark.parametrize(
    "value", ["private", "no-store", "public, max-age=60, private", "PRIVATE", 'private="x"']
)
def test_a_page_marked_private_or_no_store_is_never_stored(value: str) -> None:
    assert rule_of(headers={**ALLOWED, "cache-control": value}) is Rule.PRIVATE


@pytest.mark.parametrize("value", ["s-maxage=60", "public, max-age=5", "no-cache"])
def test_other_cache_control_directives_do_not_refuse(value: str) -> None:
    assert decide(headers={**ALLOWED, "cache-control": value}) is None


@pytest.mark.parametrize(
    "value", ["accept-language", "Cookie, Origin", "Accept-Encoding, User-Agent", "*"]
)
def test_a_page_that_varies_on_a_request_header_is_never_stored(value: str) -> None:
    assert rule_of(headers={**ALLOWED, "vary": value}) is Rule.VARY


@pytest.mark.parametrize("value", ["Accept-Encoding", "accept-encoding , "])
def test_an_identity_page_that_varies_on_accept_encoding_alone_is_stored(value: str) -> None:
    assert decide(headers={**ALLOWED, "vary": value}) is None
    gzipped = {**ALLOWED, "vary": value, "content-encoding": "gzip"}
    assert rule_of(headers=gzipped) is Rule.COMPRESSED


def test_an_empty_vary_does_not_refuse() -> None:
    assert decide(headers={**ALLOWED, "vary": " , "}) is None


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate", "zstd", "GZIP"])
def test_a_compressed_body_is_never_stored(encoding: str) -> None:
    assert rule_of(headers={**ALLOWED, "content-encoding": encoding}) is Rule.COMPRESSED


def test_an_identity_encoding_does_not_refuse() -> None:
    assert decide(headers={**ALLOWED, "content-encoding": "identity"}) is None


def test_a_page_over_the_memory_budget_is_never_stored() -> None:
    assert decide(size=10_000, budget=10_000) is None
    assert rule_of(size=10_001, budget=10_000) is Rule.SIZE


def test_only_a_page_every_other_rule_allows_is_refused_for_its_size_alone() -> None:
    too_large = decide(size=10_001, budget=10_000)
    assert too_large is not None and too_large.for_size_alone
    with_cookie = decide(size=10_001, budget=10_000, headers={**ALLOWED, "set-cookie": "a=1"})
    assert with_cookie is not None and not with_cookie.for_size_alone


def test_the_rules_that_mean_the_page_depends_on_the_request() -> None:
    assert {
        Rule.DYNAMIC,
        Rule.COOKIE,
        Rule.PRIVATE,
        Rule.VARY,
        Rule.COMPRESSED,
    } == PER_REQUEST_RULES
    assert all(rule.about_the_request for rule in PER_REQUEST_RULES)
    others = set(Rule) - PER_REQUEST_RULES
    assert not any(rule.about_the_request for rule in others)


def test_a_refusal_says_what_it_refused() -> None:
    refused = decide(headers={**ALLOWED, "vary": "Accept-Language"})
    assert refused is not None and "Accept-Language" in str(refused)

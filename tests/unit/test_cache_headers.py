"""Cache metadata from an app's own HTTP answer: the rules of `seeding.cache_headers`."""

from __future__ import annotations

import pytest

from seeding.cache_headers import CachePolicy, cache_policy, cache_tags
from seeding.schema import MAX_TAG_LENGTH, MAX_TAGS


@pytest.mark.parametrize(
    ("headers", "default", "policy"),
    [
        ({}, None, CachePolicy()),  # the site default: cached until the next deploy
        ({"cache-control": "public, s-maxage=60"}, None, CachePolicy(60)),
        (
            {"cache-control": "s-maxage=60, stale-while-revalidate=30"},
            None,
            CachePolicy(60, 90),
        ),
        ({"cache-control": "max-age=10"}, None, CachePolicy(10)),
        ({"cache-control": "max-age=10, s-maxage=20"}, None, CachePolicy(20)),
        ({}, "s-maxage=5, stale-while-revalidate=5", CachePolicy(5, 10)),
        ({"cache-control": "public"}, "s-maxage=5", CachePolicy(5)),  # no lifetime: default
        ({"cache-control": "s-maxage=abc"}, None, CachePolicy()),
        ({"vary": "Accept-Encoding"}, None, CachePolicy()),  # a canonical render: identity
        # RFC 9111 delta-seconds are digits only: what int() would also take is no lifetime.
        ({"cache-control": "max-age=+5"}, None, CachePolicy()),
        ({"cache-control": "max-age=1_000"}, None, CachePolicy()),
        ({"cache-control": "max-age=-1"}, None, CachePolicy()),
        ({"cache-control": "max-age=\u0661"}, None, CachePolicy()),  # an Arabic-Indic 1
    ],
)
def test_lifetimes_come_from_the_answer_else_the_default(
    headers: dict[str, str], default: str | None, policy: CachePolicy
) -> None:
    assert cache_policy(headers, default) == policy


@pytest.mark.parametrize(
    ("headers", "default", "reason"),
    [
        ({"cache-control": "no-store"}, None, "no-store"),
        ({"cache-control": "private, max-age=60"}, None, "private"),
        ({"cache-control": "no-cache"}, None, "no-cache"),
        ({"cache-control": "s-maxage=0"}, None, "max-age is 0"),
        ({"set-cookie": "a=1"}, None, "cookie"),
        ({"vary": "Accept-Encoding, Cookie"}, None, "cookie"),
        ({"vary": "*"}, None, "*"),
        ({}, "no-store", "default"),
    ],
)
def test_answers_that_may_differ_per_client_are_dynamic_with_a_reason(
    headers: dict[str, str], default: str | None, reason: str
) -> None:
    policy = cache_policy(headers, default)
    assert policy.dynamic and reason in policy.reason


def test_tags_are_trimmed_deduplicated_and_held_to_the_limits() -> None:
    assert cache_tags(" posts, post:a ,, posts ") == ("posts", "post:a")
    assert cache_tags(None) == () and cache_tags("") == ()
    assert cache_tags("x" * (MAX_TAG_LENGTH + 1) + ", ok") == ("ok",)
    many = ", ".join(f"t{n}" for n in range(MAX_TAGS + 10))
    assert len(cache_tags(many)) == MAX_TAGS


def test_tags_the_tag_rules_refuse_are_dropped_as_the_revalidation_endpoint_refuses_them() -> None:
    assert cache_tags("ok, bad\x7f, caf\u00e9") == ("ok", "caf\u00e9")

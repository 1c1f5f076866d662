"""The Cookie header read as browsers send it, and the private-request rule on it."""

from __future__ import annotations

import pytest

from seeding.cookies import cookie_names
from seeding.flow.policy import is_private_request

SESSIONS = frozenset({"session"})


def test_every_cookie_name_is_read_even_next_to_a_json_value() -> None:
    assert cookie_names('pref={"a":1}; session=alice') == {"pref", "session"}


def test_non_ascii_and_quoted_values_do_not_hide_other_cookies() -> None:
    assert cookie_names('name=Zoë; q="a;b"; session=alice') >= {"name", "q", "session"}


def test_names_are_trimmed_and_empty_pairs_skipped() -> None:
    assert cookie_names("  a=1 ;;  b = 2;") == {"a", "b"}


def test_a_pair_without_equals_is_a_cookie_with_an_empty_name() -> None:
    assert cookie_names("justavalue; a=1") == {"", "a"}


@pytest.mark.parametrize("header", ["a=1\x00; session=x", "a=\udcff", b"session=x"])
def test_a_header_that_cannot_be_read_has_no_names(header: object) -> None:
    assert cookie_names(header) is None


@pytest.mark.parametrize(
    "cookie",
    [
        'pref={"a":1}; session=alice',
        "name=Zo\u00eb; session=alice",
        "name=Zo\u00c3\u00ab; session=alice",  # UTF-8 bytes as the platform hands them over
        'a="unterminated; session=alice',
        'session=alice; pref={"a":1}',
        "__Host-id=1; weird=[]",
        "__Secure-token=1",
    ],
)
def test_a_session_cookie_makes_the_request_private_whatever_else_the_header_holds(
    cookie: str,
) -> None:
    assert is_private_request({"cookie": cookie}, SESSIONS)


def test_an_unreadable_cookie_header_makes_the_request_private() -> None:
    assert is_private_request({"cookie": "theme=dark\x00"}, SESSIONS)


def test_harmless_cookies_keep_the_request_shared_even_when_simplecookie_would_fail() -> None:
    assert not is_private_request({"cookie": 'pref={"a":1}; theme=d\u00e4rk'}, SESSIONS)
    assert not is_private_request({}, SESSIONS)


def test_authorization_makes_the_request_private() -> None:
    assert is_private_request({"authorization": "Basic eA=="}, SESSIONS)

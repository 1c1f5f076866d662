"""Plain request values, and headers read lazily from a Fetch-API Headers object."""

from __future__ import annotations

import logging

import pytest

from seeding.http import (
    MAX_REQUEST_BODY_BYTES,
    BodyTooLarge,
    LazyHeaders,
    Request,
    header_pairs,
    is_header_name,
    is_header_value,
)


class FakeJsHeaders:
    """What the Workers runtime hands over: case-insensitive has/get, entries()."""

    def __init__(self, pairs: dict[str, str]) -> None:
        self._pairs = {k.lower(): v for k, v in pairs.items()}
        self.calls: list[str] = []

    def has(self, name: str) -> bool:
        self.calls.append(f"has {name}")
        return name.lower() in self._pairs

    def get(self, name: str) -> str | None:
        self.calls.append(f"get {name}")
        return self._pairs.get(name.lower())

    def entries(self):
        self.calls.append("entries")
        return iter(self._pairs.items())


def test_lookups_read_only_the_headers_asked_for() -> None:
    source = FakeJsHeaders({"Authorization": "Bearer x", "Accept": "*/*", "Cookie": "a=1"})
    headers = LazyHeaders(source)
    assert headers["authorization"] == "Bearer x"
    assert "cookie" in headers and "if-none-match" not in headers
    assert headers.get("if-none-match") is None
    assert "entries" not in source.calls


def test_each_lookup_is_one_call_into_the_source() -> None:
    source = FakeJsHeaders({"Cookie": "a=1", "X-Empty": ""})
    headers = LazyHeaders(source)
    assert headers.get("cookie") == "a=1"
    assert headers.get("if-none-match", "none") == "none"
    assert headers["x-empty"] == ""
    assert source.calls == ["get cookie", "get if-none-match", "get x-empty"]


def test_iteration_lists_every_header_lower_cased() -> None:
    headers = LazyHeaders(FakeJsHeaders({"X-One": "1", "Accept": "*/*"}))
    assert dict(headers) == {"x-one": "1", "accept": "*/*"}
    assert len(headers) == 2


def test_a_request_with_lazy_headers_answers_header_lookups() -> None:
    request = Request(
        "GET", "https://h/a?q=1", LazyHeaders(FakeJsHeaders({"If-None-Match": '"e"'}))
    )
    assert request.header("If-None-Match") == '"e"'
    assert request.path == "/a" and request.query == "q=1"


def test_each_set_cookie_becomes_its_own_header_pair_in_order() -> None:
    headers = {"content-type": "text/html", "set-cookie": "a=1; Path=/\nb=2; HttpOnly"}
    assert header_pairs(headers) == [
        ("content-type", "text/html"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2; HttpOnly"),
    ]


def test_a_header_the_platform_would_reject_is_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {
        "x-ok": "fine",
        "x-crlf": "a\r\nset-cookie: evil=1",
        "x-nul": "a\x00b",
        "bad name": "1",
        "x-lf": "two\nlines",
        "": "empty name",
    }
    with caplog.at_level(logging.WARNING, logger="seeding"):
        assert header_pairs(headers) == [("x-ok", "fine")]
    for name in ("x-crlf", "x-nul", "bad name", "x-lf"):
        assert repr(name) in caplog.text
    assert "evil" not in caplog.text  # values are never logged


def test_one_bad_set_cookie_leaves_the_others() -> None:
    assert header_pairs({"set-cookie": "a=1\n\x00bad\nb=2"}) == [
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]


def test_a_value_beyond_latin_1_is_sent_as_its_utf8_bytes() -> None:
    [(_, value)] = header_pairs({"x-snow": "\u2603"})
    assert value.encode("latin-1") == "\u2603".encode()
    assert is_header_value(value) and not is_header_value("\u2603")


@pytest.mark.parametrize("name", ["x-a", "X-Custom_1", "etag", "!#$%&'*+-.^_`|~"])
def test_token_names_are_header_names(name: str) -> None:
    assert is_header_name(name)


@pytest.mark.parametrize("name", ["", "a b", "a:b", "a\n", "caf\u00e9", "a(b)"])
def test_other_names_are_not(name: str) -> None:
    assert not is_header_name(name)


class Reader:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.calls = 0

    async def __call__(self, limit: int) -> bytes:
        self.calls += 1
        if len(self.payload) > limit:
            raise BodyTooLarge(limit)
        return self.payload


async def test_a_body_is_read_only_when_asked_and_never_past_the_limit() -> None:
    reader = Reader(b"x" * 10)
    request = Request("POST", "https://a.example/", {}, reader=reader)
    assert reader.calls == 0
    assert await request.read_body(10) == b"x" * 10
    with pytest.raises(BodyTooLarge):
        await request.read_body(9)


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    reader = Reader(b"")
    request = Request("POST", "https://a.example/", {"content-length": "11"}, reader=reader)
    with pytest.raises(BodyTooLarge):
        await request.read_body(10)
    assert reader.calls == 0


async def test_a_known_body_is_held_to_the_same_limit() -> None:
    request = Request("POST", "https://a.example/", {}, b"abc")
    assert await request.read_body(3) == b"abc"
    with pytest.raises(BodyTooLarge):
        await request.read_body(2)


async def test_a_render_is_given_at_most_the_documented_body_size() -> None:
    request = Request("POST", "https://a.example/", {}, b"x" * (MAX_REQUEST_BODY_BYTES + 1))
    with pytest.raises(BodyTooLarge):
        await request.read_body()


@pytest.mark.parametrize(
    "text",
    ["", "a", "x-a", "caf\u00e9", "\u00ff", "\u0100", "a\u2603", "\ud800", "a b", "a\r\nb", "\x00"],
)
def test_the_header_checks_agree_with_their_character_rules(text: str) -> None:
    token = "!#$%&'*+-.^_`|~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    assert is_header_name(text) == (bool(text) and all(c in token for c in text))
    assert is_header_value(text) == all(ord(c) < 0x100 and c not in "\r\n\x00" for c in text)

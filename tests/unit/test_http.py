"""Plain request values, and headers read lazily from a Fetch-API Headers object."""

from __future__ import annotations

from seeding.http import LazyHeaders, Request


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

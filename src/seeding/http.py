"""Plain request and response values: what the handler reads and returns. `entry.py`
converts to and from the Workers SDK types at the edge."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-case
    body: bytes = b""  # read only for methods other than GET and HEAD

    @property
    def path(self) -> str:
        """The raw (still percent-encoded) URL path; "" (no route) for a URL whose
        host urlsplit refuses (the host comes from the client's Host header)."""
        try:
            return urlsplit(self.url).path or "/"
        except ValueError:
            return ""

    @property
    def query(self) -> str:
        try:
            return urlsplit(self.url).query
        except ValueError:
            return ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]  # may be shared with the cache: never modified
    body: bytes = b""


def text_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    all_headers = {"content-type": "text/plain; charset=utf-8"}
    all_headers.update(headers or {})
    return Response(status, all_headers, text.encode("utf-8"))


class LazyHeaders(Mapping[str, str]):
    """Request headers read on demand from a Fetch-API `Headers` object (anything
    with `has`, `get` and `entries`). A cached page needs two or three of them, and
    converting every header across the JS boundary on each request is a measurable
    share of a warm hit. Names are case-insensitive, as in `Headers`."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._all: dict[str, str] | None = None

    def get(self, name: str, default: Any = None) -> Any:
        # One crossing: `Headers.get` answers null (not a str) for an absent header.
        value = self._source.get(name) if isinstance(name, str) else None
        return value if isinstance(value, str) else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str):
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._source.has(name))

    def _items(self) -> dict[str, str]:
        if self._all is None:
            self._all = {str(k).lower(): str(v) for k, v in self._source.entries()}
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

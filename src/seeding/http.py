"""Plain request and response values: what the handler reads and returns. `entry.py`
converts to and from the Workers SDK types at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-case

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
    headers: dict[str, str]
    body: bytes = b""


def text_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    all_headers = {"content-type": "text/plain; charset=utf-8"}
    all_headers.update(headers or {})
    return Response(status, all_headers, text.encode("utf-8"))

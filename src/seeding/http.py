"""Plain request and response values: what the handler reads and returns; the bridge
(`seeding.worker`) converts them to and from the Workers runtime's types.

Response headers are a mapping of lower-case names to values. A header the app sent
more than once is one entry: its values joined with ", " (RFC 9110 §5.3), except
`Set-Cookie`, which cannot be joined that way (RFC 6265 §3) and is joined with "\n", a
character no header value may hold. `header_pairs` turns such a mapping into the list
the platform's `Headers` is made from: one pair per Set-Cookie, and only pairs the
platform accepts (RFC 9110 §5.1 token names; values with no CR, LF or NUL and only
bytes, i.e. characters up to U+00FF). Anything else is dropped and logged, so a bad
header never turns an answer into the platform's 500.

A request body is read only on demand and never past a limit (`Request.read_body`):
a GET or HEAD never needs it, and the revalidation endpoint refuses a request on its
headers before reading a byte.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("seeding")

# The separator of the values of a Set-Cookie sent more than once (see above).
SET_COOKIE_SEPARATOR = "\n"
# RFC 9110 §5.6.2: the characters of a token, which is what a header name is. The
# checks below run in C (str methods) rather than a loop over characters: every cached
# page's headers pass through them once, a cold route's on its first answer.
_TOKEN_CHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits

# The largest request body a render is given (a form post, a small upload): a longer
# one is answered 413 before more of it is read. The revalidation endpoint's is smaller.
MAX_REQUEST_BODY_BYTES = 4 * 1024 * 1024
# `reader(limit)` answers the whole body, or raises BodyTooLarge past `limit` bytes.
BodyReader = Callable[[int], Awaitable[bytes]]


class BodyTooLarge(ValueError):
    """A request body over the limit its reader was given; nothing more was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over the limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-case
    body: bytes = b""  # the body, when it is known already (tests, the build)
    reader: BodyReader | None = None  # else how to read it, on demand

    async def read_body(self, limit: int = MAX_REQUEST_BODY_BYTES) -> bytes:
        """The body, read at most once and never past `limit` bytes: BodyTooLarge
        when it is longer (a declared `Content-Length` over it is refused unread)."""
        if self.reader is None:
            if len(self.body) > limit:
                raise BodyTooLarge(limit)
            return self.body
        declared = declared_length(self.headers)
        if declared is not None and declared > limit:
            raise BodyTooLarge(limit)
        return await self.reader(limit)

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


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The `Content-Length` a request declares, when it is a plain number."""
    value = headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


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


def is_header_name(name: object) -> bool:
    """A name the platform's `Headers` accepts: an RFC 9110 token."""
    # Stripping every token character from both ends leaves nothing only when every
    # character is one.
    return isinstance(name, str) and bool(name) and not name.strip(_TOKEN_CHARS)


def is_header_value(value: object) -> bool:
    """A value the platform's `Headers` accepts: bytes (characters up to U+00FF) with
    no CR, LF or NUL."""
    return (
        isinstance(value, str)
        and "\r" not in value
        and "\n" not in value
        and "\x00" not in value
        and _is_latin1(value)
    )


def _is_latin1(text: str) -> bool:
    """Every character of `text` is at most U+00FF (what a header value may hold)."""
    return text.isascii() or max(text) <= "\xff"


def header_pairs(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (name, value) pairs to build the platform's `Headers` from: one per value
    of a repeated Set-Cookie, in order. A pair the platform would reject is dropped
    and logged (its name and why, never its value); a value with characters past
    U+00FF is sent as its UTF-8 bytes, which is what the platform would send."""
    pairs: list[tuple[str, str]] = []
    for name, joined in headers.items():
        if not is_header_name(name):
            log.warning("seeding: response header %r dropped: not a valid header name", name)
            continue
        if not isinstance(joined, str):
            log.warning("seeding: response header %r dropped: its value is not text", name)
            continue
        values = joined.split(SET_COOKIE_SEPARATOR) if name.lower() == "set-cookie" else [joined]
        for value in values:
            if not _is_latin1(value):
                value = value.encode("utf-8", "replace").decode("latin-1")
            if not is_header_value(value):
                log.warning(
                    "seeding: response header %r dropped: its value holds CR, LF or NUL", name
                )
                continue
            pairs.append((name, value))
    return pairs

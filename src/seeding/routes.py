"""The path contract shared by build time and run time.

One module decides, for the build and the Worker:

- how a request's URL path maps to a route key and a variant (`resolve_request_path`),
  and back (`canonical_path`);
- which URL paths are private (`is_private_path`), and where the private files are
  served from (`asset_path`).

A route key is the decoded, basePath-less path of a page without a trailing slash
("/", "/about", "/blog/hello"). The query string is never part of it. A site may opt
in to a JSON data variant of its pages (`data_variant`): the page's path plus ".json"
("/index.json" for the root), as Next.js serves page data; without it, a path ending
in ".json" is an ordinary route. Files are named from a hash of the route key (by the
build), so no request path, however hostile, can name a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote

# Everything the build ships privately lives below this asset prefix.
PRERENDER_DIR = "__prerender"
PRERENDER_PREFIX = f"/{PRERENDER_DIR}/"

# The JSON data form of a page (what client-side navigation fetches) is the page's
# path plus this suffix; the root's data form is "/index.json".
DATA_SUFFIX = ".json"
ROOT_DATA_STEM = "/index"

# What the renderer is asked for when a path cannot be a route (outside basePath,
# malformed): its 404 page. Reserved, as in Next.js.
NOT_FOUND_ROUTE = "/_not-found"

# Longer request paths are never routes; keeps hashing and lookups cheap under abuse.
MAX_ROUTE_LENGTH = 1024
# The longest request path (basePath stripped) that can still name a route: every
# character percent-encoded as up to 4 UTF-8 bytes, plus the data suffix.
_MAX_ENCODED_LENGTH = 12 * MAX_ROUTE_LENGTH + len(ROOT_DATA_STEM) + len(DATA_SUFFIX) + 1

_HEX = "0123456789abcdefABCDEF"
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


class Variant(str, Enum):
    """The forms in which a page is rendered and stored: HTML is the page as the site
    answers it (HTML for most routes, whatever the renderer sends for others); DATA is
    the opt-in JSON data form."""

    HTML = "html"
    DATA = "data"

    @property
    def extension(self) -> str:
        return ".html" if self is Variant.HTML else ".json"

    @property
    def content_type(self) -> str:
        if self is Variant.HTML:
            return "text/html; charset=utf-8"
        return "application/json"


@dataclass(frozen=True)
class RouteTarget:
    """What a request path asks for: a route key, a variant, and whether the path
    was spelled canonically (else the Worker redirects to `canonical_path`)."""

    route: str
    variant: Variant
    canonical: bool


class InvalidRouteKey(ValueError):
    """A build-time route key that the contract cannot represent."""


def validate_route_key(route: str, *, data_variant: bool = False) -> None:
    """Raise `InvalidRouteKey` unless `route` is a key the run time can resolve to.

    Used by the build so that every listed route is reachable, and by the schema
    so that a malformed document is refused whole. With `data_variant`, "/index" and
    keys ending in ".json" are reserved for the data forms.
    """
    if not isinstance(route, str) or not route.startswith("/"):
        raise InvalidRouteKey(f"route {route!r} must be a string starting with '/'")
    if route == "/":
        return
    try:
        route.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: no file name can be derived from it, no page rendered.
        raise InvalidRouteKey(f"route {route!r} is not encodable as UTF-8") from None
    if route.endswith("/"):
        raise InvalidRouteKey(f"route {route!r} must not end with '/'")
    if len(route) > MAX_ROUTE_LENGTH:
        raise InvalidRouteKey(f"route {route[:40]!r}... is longer than {MAX_ROUTE_LENGTH}")
    if _FORBIDDEN_CHARS.search(route):
        raise InvalidRouteKey(f"route {route!r} contains a control character or backslash")
    segments = route[1:].split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise InvalidRouteKey(f"route {route!r} has an empty, '.' or '..' segment")
    if route == NOT_FOUND_ROUTE:
        raise InvalidRouteKey(f"route {NOT_FOUND_ROUTE!r} is reserved for the 404 page")
    if data_variant and route == ROOT_DATA_STEM:
        raise InvalidRouteKey(f"route {ROOT_DATA_STEM!r} is reserved for the root's data form")
    if data_variant and route.endswith(DATA_SUFFIX):
        raise InvalidRouteKey(f"route {route!r} ends with {DATA_SUFFIX!r}, the data form's suffix")
    if route.lower().startswith(PRERENDER_PREFIX.rstrip("/")):
        raise InvalidRouteKey(f"route {route!r} is inside the private {PRERENDER_PREFIX}")


def asset_path(relative_file: str) -> str:
    """The URL path under which the asset layer serves a prerender file."""
    return PRERENDER_PREFIX + relative_file


def percent_decode(raw: str) -> str | None:
    """Strictly decode %XX escapes as UTF-8; None for any malformed escape or byte."""
    if "%" not in raw:
        return raw
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "%":
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                return None
            out.append(int(pair, 16))
            i += 3
        else:
            # A lone surrogate passes here and fails the strict decode below.
            out.extend(ch.encode("utf-8", "surrogatepass"))
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def is_private_path(raw_path: str) -> bool:
    """True for any spelling of a path inside `/__prerender/`: encoded (`%5F`),
    doubled slashes, dot segments, other case. Such a request must answer 404."""
    decoded = raw_path
    # Decode repeatedly: a double-encoded spelling must not slip through either.
    # Leniently: a malformed escape or non-UTF-8 bytes elsewhere in the path must
    # not hide the prefix ("/%5F_prerender/%zz").
    for _ in range(3):
        step = unquote(decoded, errors="replace")
        if step == decoded:
            break
        decoded = step
    decoded = decoded.replace("\\", "/").lower()
    segments = [seg for seg in decoded.split("/") if seg not in ("", ".")]
    resolved: list[str] = []
    for seg in segments:
        if seg == "..":
            if resolved:
                resolved.pop()
        else:
            resolved.append(seg)
    return bool(resolved) and resolved[0] == PRERENDER_DIR


def resolve_request_path(
    raw_path: str, *, base_path: str = "", trailing_slash: bool = False, data_variant: bool = False
) -> RouteTarget | None:
    """Map a request's URL path (percent-encoded, without the query) to a route.

    Returns None for paths that cannot be a route: outside basePath, malformed
    escapes, control characters, backslashes, empty or dot segments, too long.
    Never raises for any string input.
    """
    if not isinstance(raw_path, str):
        return None
    if base_path:
        if raw_path == base_path:
            raw_path = "/"
        elif raw_path.startswith(base_path + "/"):
            raw_path = raw_path[len(base_path) :]
        else:
            return None
    if len(raw_path) > _MAX_ENCODED_LENGTH:
        return None
    path = percent_decode(raw_path)
    if path is None or not path.startswith("/"):
        return None

    if data_variant and path != "/" and path.endswith(DATA_SUFFIX):
        stem = path[: -len(DATA_SUFFIX)]
        if stem == "/":
            return None  # "/.json": the root's data form is spelled "/index.json"
        route = "/" if stem == ROOT_DATA_STEM else stem
        return _checked(route, Variant.DATA, True, data_variant)

    if path == "/":
        return RouteTarget("/", Variant.HTML, canonical=True)
    if path.endswith("/"):
        return _checked(path[:-1], Variant.HTML, trailing_slash, data_variant)
    return _checked(path, Variant.HTML, not trailing_slash, data_variant)


def _checked(
    route: str, variant: Variant, canonical: bool, data_variant: bool
) -> RouteTarget | None:
    try:
        validate_route_key(route, data_variant=data_variant)
    except InvalidRouteKey:
        return None
    return RouteTarget(route, variant, canonical)


def canonical_path(
    route: str, variant: Variant, *, base_path: str = "", trailing_slash: bool = False
) -> str:
    """The URL path (decoded) under which a route's variant is served canonically."""
    if variant is Variant.DATA:
        stem = ROOT_DATA_STEM if route == "/" else route
        return f"{base_path}{stem}{DATA_SUFFIX}"
    if route == "/":
        return base_path or "/"
    return f"{base_path}{route}/" if trailing_slash else f"{base_path}{route}"

"""The one validator for every document the project reads from outside its own code:
the build's manifest (read by the copy step), the build identity the Worker imports,
the header of each pack the Worker fetches, each page value read from KV
(`Validator.page`), and the body of an on-demand revalidation (its tags, through
`tag_problem`). Build documents describe routes the same way, so one reader of a route
record serves them, and an error anywhere names the document, the field and the fix.

A KV value is untrusted input: anyone who can write to the namespace (another deploy,
an operator, a bug) can put anything there, and a page read from it is served to every
client. So it is held to what the Worker itself would store: finite times, made no
later than `MAX_CLOCK_SKEW_SECONDS` after the reader's clock, non-negative revalidate
and expire, a status the platform can answer with, header names and values the platform
accepts, none that belongs to one client or one connection (`Set-Cookie`, hop-by-hop
headers, `Cache-Control: private / no-store`), tags within the tag rules, and a body
of the length it declares, within `MAX_PAGE_BYTES`.

A document is refused whole (`SchemaError`) as soon as one field is wrong: the same
bytes can never become valid, so callers treat the error as permanent. JSON is read
strictly (`loads_json`): UTF-8 only, no NaN or Infinity, and a key given twice is
refused rather than silently keeping the last.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from seeding.edge.tags import MAX_EDGE_TAGS
from seeding.flow.policy import is_private_response
from seeding.http import is_header_name, is_header_value
from seeding.primitives.cache import CacheEntry
from seeding.routes import InvalidRouteKey, Variant, validate_route_key

# The static-asset limit per file on Cloudflare.
MAX_ASSET_BYTES = 25 * 1024 * 1024
# The largest page body read from KV: KV's own value limit, the asset limit's twin.
MAX_PAGE_BYTES = 25 * 1024 * 1024
# Next.js's limits for tags, applied to the tags a page carries and to revalidation.
MAX_TAGS = 128
# A page's own tags, its path tag and its build tag: far below the edge's limit.
assert MAX_TAGS + 2 <= MAX_EDGE_TAGS
MAX_TAG_LENGTH = 256
# How far in the reader's future a stored page's `generatedAt` may be: isolates'
# clocks differ by a little; a page from further ahead would stay fresh too long.
MAX_CLOCK_SKEW_SECONDS = 60.0
# Headers of one connection or one client, never part of a stored page (RFC 9110
# §7.6.1 hop-by-hop, the body's framing and encoding, and Set-Cookie).
UNSTORABLE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "set-cookie",
    }
)

FIX_REBUILD = "re-run the prerender and copy steps with this version of the project"


class SchemaError(ValueError):
    """A build document this code cannot use. The message names the source, the
    field and the fix; re-reading the same bytes cannot help."""

    def __init__(self, source: str, field_name: str, problem: str, fix: str = "") -> None:
        self.source = source
        self.field_name = field_name
        message = f"{source}: {field_name}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class RouteStatus(str, Enum):
    RENDERED = "rendered"
    SKIPPED = "skipped"
    ERROR = "error"


# By value, looked up with a dict (a pack's record is read on a cold request; calling
# the Enum class runs its Python-level lookup).
_STATUSES = {status.value: status for status in RouteStatus}
_VARIANTS = {variant.value: variant for variant in Variant}

V = TypeVar("V")


@dataclass(frozen=True)
class RouteRecord(Generic[V]):
    """What the build knows of one route. `V` says where each variant's body is: a
    file of the build directory (the manifest) or a place in a pack (the Worker)."""

    path: str
    pattern: str
    status: RouteStatus
    reason: str = ""
    revalidate: int | None = None
    expire: int | None = None
    http_status: int = 200
    tags: tuple[str, ...] = ()
    variants: Mapping[Variant, V] = field(default_factory=dict)

    @property
    def seedable(self) -> bool:
        return self.status is RouteStatus.RENDERED and bool(self.variants)


def tag_problem(tag: object) -> str | None:
    """What makes `tag` no tag (None: it is one): the one tag rule, for the tags a
    page carries, those of a pack or KV value, and those of a revalidation."""
    if not isinstance(tag, str):
        return f"{tag!r:.40} is not a string"
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        return f"{tag[:40]!r} has {len(tag)} characters; a tag has 1 to {MAX_TAG_LENGTH}"
    if not tag.isprintable() or not _is_utf8(tag):
        return f"{tag[:40]!r} has a non-printable character or a lone surrogate"
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def delta_seconds(value: str | None) -> int | None:
    """A `delta-seconds` argument (RFC 9111 §1.2.2: digits only), or None when it is
    absent or not one ("+5", "1_000", "-1", "1.5" are not)."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def clean_tags(raw: str | None) -> tuple[str, ...]:
    """The tags of a comma-separated list (a `Cache-Tag` header): trimmed, empty
    ones dropped, duplicates dropped, order kept."""
    if not raw:
        return ()
    seen: dict[str, None] = {}
    for part in raw.split(","):
        tag = part.strip()
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers the keys its text gave more than once."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicates = []
        for key, _ in pairs:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        obj.duplicates = tuple(duplicates)
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_json(text: str | bytes) -> Any:
    """`json.loads`, strictly: bytes must be UTF-8 (no BOM), no NaN or Infinity, and
    objects remember duplicate keys (refused by `Validator.mapping`). Raises
    ValueError (UnicodeDecodeError is one) for a document that breaks these rules."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    return json.loads(text, object_pairs_hook=_json_object, parse_constant=_no_constant)


class Validator:
    """Checks fields of one document; every error names `source` and the field."""

    def __init__(self, source: str, fix: str = FIX_REBUILD) -> None:
        self.source = source
        self.fix = fix

    def fail(self, where: str, problem: str, fix: str | None = None) -> SchemaError:
        return SchemaError(self.source, where, problem, self.fix if fix is None else fix)

    def document(self, text: str | bytes) -> dict[str, Any]:
        try:
            raw = loads_json(text)
        except (ValueError, RecursionError) as exc:
            raise self.fail("(document)", f"is not valid JSON: {exc}") from None
        return self.mapping(raw, "(document)")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"is {type(value).__name__}, expected an object")
        for key in getattr(value, "duplicates", ()):
            name = key if where == "(document)" else f"{where}[{key!r}]"
            raise self.fail(name, "is given more than once (JSON would keep only the last)")
        return value

    def schema(self, obj: Mapping[str, Any], name: str, version: int) -> None:
        if obj.get("schema") != name:
            raise self.fail(
                "schema",
                f"is {obj.get('schema')!r}, expected {name!r}",
                "this is not a document of this project's prerender build",
            )
        if obj.get("version") != version:
            raise self.fail("version", f"is {obj.get('version')!r}, this code reads {version}")

    def string(self, value: Any, where: str, *, nonempty: bool = False) -> str:
        if not isinstance(value, str) or (nonempty and not value):
            wanted = "a non-empty string" if nonempty else "a string"
            raise self.fail(where, f"is {value!r}, expected {wanted}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"is {value!r}, expected true or false")
        return value

    def count(self, value: Any, where: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(where, f"is {value!r}, expected a whole number >= {minimum}")
        number: int = value
        return number

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"is {value!r}, expected a number")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise self.fail(where, f"is {value!r}, expected a finite number")
        return number

    def seconds(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(
                where, f"is {value!r}", "use a positive whole number of seconds, or null for never"
            )
        seconds: int = value
        return seconds

    def http_status(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
            raise self.fail(where, f"is {value!r}", "use an HTTP status code")
        status: int = value
        return status

    def variant(self, name: str, where: str) -> Variant:
        """A variant's name, as a key of `where` (a route's variants)."""
        kind = _VARIANTS.get(name) if isinstance(name, str) else None
        if kind is None:
            raise self.fail(where, f"has unknown variant {name!r}", "use 'html' or 'data'")
        return kind

    def base_path(self, value: Any, where: str = "basePath") -> str:
        base_path = self.string(value, where)
        if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
            raise self.fail(
                where,
                f"{base_path!r} must be '' or start with '/' and not end with '/'",
                "use e.g. '/docs'",
            )
        return base_path

    def headers(self, value: Any, where: str) -> dict[str, str]:
        headers = self.mapping(value, where)
        for name, header in headers.items():
            if not isinstance(header, str):
                raise self.fail(
                    f"{where}.{name}", f"is {header!r}", "header values must be strings"
                )
        return headers

    def tags(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or len(value) > MAX_TAGS:
            raise self.fail(where, f"is {value!r:.80}", f"expected a list of at most {MAX_TAGS}")
        for n, tag in enumerate(value):
            problem = tag_problem(tag)
            if problem is not None:
                raise self.fail(f"{where}[{n}]", problem)
        return tuple(value)

    def stored_headers(self, value: Any, where: str) -> dict[str, str]:
        """The headers of a page read from storage: lower-case names the platform
        accepts, values it accepts, none of `UNSTORABLE_HEADERS`, and nothing that
        says the page is private."""
        headers = self.headers(value, where)
        for name, header in headers.items():
            if not is_header_name(name) or name != name.lower():
                raise self.fail(f"{where}[{name!r:.40}]", "is not a lower-case header name")
            if name in UNSTORABLE_HEADERS:
                raise self.fail(f"{where}.{name}", "belongs to one client or connection")
            if not is_header_value(header):
                raise self.fail(f"{where}.{name}", "holds CR, LF, NUL or a non-byte character")
        if is_private_response(headers):
            raise self.fail(f"{where}.cache-control", "says the page is private or no-store")
        return headers

    def timestamp(self, value: Any, where: str, now: float) -> float:
        """Epoch seconds, finite, not negative, and at most `MAX_CLOCK_SKEW_SECONDS`
        after `now`."""
        stamp = self.number(value, where)
        if stamp < 0 or stamp > now + MAX_CLOCK_SKEW_SECONDS:
            raise self.fail(where, f"is {stamp!r}, in the future of this isolate's clock {now}")
        return stamp

    def optional_count(self, value: Any, where: str) -> int | None:
        return None if value is None else self.count(value, where)

    def page(self, header: Any, body: bytes, now: float) -> CacheEntry:
        """The cache entry of a stored page value: its JSON header (`status`,
        `headers`, `generatedAt`, `revalidate`, `expire`, `tags`, `bodyLength`) and
        body, as of `now`; SchemaError for anything a stored page may not hold."""
        obj = self.mapping(header, "(header)")
        length = self.count(obj.get("bodyLength"), "bodyLength")
        if length != len(body) or length > MAX_PAGE_BYTES:
            raise self.fail(
                "bodyLength", f"is {length}, the body has {len(body)} (at most {MAX_PAGE_BYTES})"
            )
        status = self.http_status(obj.get("status"), "status")
        if status < 200:  # the platform's Response takes 200-599 only
            raise self.fail("status", f"is {status}, not a status a page is answered with")
        return CacheEntry(
            body=body,
            status=status,
            headers=self.stored_headers(obj.get("headers"), "headers"),
            generated_at=self.timestamp(obj.get("generatedAt"), "generatedAt", now),
            revalidate=self.optional_count(obj.get("revalidate"), "revalidate"),
            expire=self.optional_count(obj.get("expire"), "expire"),
            tags=self.tags(obj.get("tags", []), "tags"),
        )

    def route(
        self,
        path: str,
        raw: Any,
        variant: Callable[[str, Variant, Any], V],
        *,
        data_variant: bool,
        default_status: RouteStatus | None = None,
    ) -> RouteRecord[V]:
        """One route record. `variant(where, variant, raw)` reads a variant's location;
        `default_status` is the status of a record that names none (None: required)."""
        where = f"routes[{path!r}]"
        try:
            validate_route_key(path, data_variant=data_variant)
        except InvalidRouteKey as exc:
            raise self.fail(where, str(exc), "fix the route in the site") from None
        obj = self.mapping(raw, where)
        status_raw = obj.get("status", default_status.value if default_status else None)
        status = _STATUSES.get(status_raw) if isinstance(status_raw, str) else None
        if status is None:
            raise self.fail(
                f"{where}.status", f"is {status_raw!r}", "use 'rendered', 'skipped' or 'error'"
            )
        revalidate = self.seconds(obj.get("revalidate"), f"{where}.revalidate")
        expire = self.seconds(obj.get("expire"), f"{where}.expire")
        if revalidate is not None and expire is not None and expire < revalidate:
            raise self.fail(
                f"{where}.expire",
                f"{expire} is less than revalidate {revalidate}",
                "make expire at least the revalidate time",
            )
        variants: dict[Variant, V] = {}
        for name, value in self.mapping(obj.get("variants", {}), f"{where}.variants").items():
            kind = self.variant(name, f"{where}.variants")
            variants[kind] = variant(f"{where}.variants.{name}", kind, value)
        if status is RouteStatus.RENDERED and not variants:
            raise self.fail(f"{where}.variants", "is empty for a rendered route")
        return RouteRecord(
            path=path,
            pattern=self.string(obj.get("pattern", path), f"{where}.pattern"),
            status=status,
            reason=self.string(obj.get("reason", ""), f"{where}.reason"),
            revalidate=revalidate,
            expire=expire,
            http_status=self.http_status(obj.get("httpStatus", 200), f"{where}.httpStatus"),
            tags=self.tags(obj.get("tags"), f"{where}.tags"),
            variants=variants,
        )


def route_to_dict(record: RouteRecord[V], variant: Callable[[V], Any]) -> dict[str, Any]:
    """The JSON form of a record (what `Validator.route` reads), defaults left out."""
    out: dict[str, Any] = {}
    if record.pattern != record.path:
        out["pattern"] = record.pattern
    out["status"] = record.status.value
    if record.reason:
        out["reason"] = record.reason
    if record.revalidate is not None:
        out["revalidate"] = record.revalidate
    if record.expire is not None:
        out["expire"] = record.expire
    if record.http_status != 200:
        out["httpStatus"] = record.http_status
    if record.tags:
        out["tags"] = list(record.tags)
    if record.variants:
        out["variants"] = {kind.value: variant(v) for kind, v in record.variants.items()}
    return out

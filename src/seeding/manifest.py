"""The prerender manifest: a versioned schema written by the build, validated by the
copy script and parsed by the Worker. Any change to its shape bumps SCHEMA_VERSION.

    {
      "schema": "lazy-seed.prerender-manifest",
      "version": 1,
      "buildId": "20261124T195500Z-3f2a9c1d",
      "builtAt": 1795550100.0,              # epoch seconds; generation time of seeded pages
      "basePath": "",                       # "" or "/docs"
      "trailingSlash": false,
      "routes": {
        "/blog/hello": {
          "pattern": "/blog/[slug]",
          "status": "rendered",             # or "skipped" / "error", with "reason"
          "reason": "",
          "revalidate": 60,                 # seconds, or null for never
          "expire": 31536000,               # seconds after which not to serve, or null
          "httpStatus": 200,
          "variants": {
            "html": {"file": "routes/ab/ab12....html", "bytes": 5120,
                     "headers": {"content-type": "text/html; charset=utf-8"}},
            "data": {"file": "routes/ab/ab12....json", "bytes": 812,
                     "headers": {"content-type": "application/json"}}
          }
        }
      }
    }
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from seeding.routes import InvalidRouteKey, Variant, validate_route_key, variant_file

SCHEMA_NAME = "lazy-seed.prerender-manifest"
SCHEMA_VERSION = 1
# The static-asset limit per file on Cloudflare.
MAX_ASSET_BYTES = 25 * 1024 * 1024


class RouteStatus(str, Enum):
    RENDERED = "rendered"
    SKIPPED = "skipped"
    ERROR = "error"


class ManifestError(ValueError):
    """The manifest is not one this code can use. The message names the field and
    the fix; `permanent` is always true: re-reading the same bytes cannot help."""

    def __init__(self, source: str, field_name: str, problem: str, fix: str = "") -> None:
        self.source = source
        self.field_name = field_name
        message = f"{source}: {field_name}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


@dataclass(frozen=True)
class VariantRecord:
    """Where one variant's body is, and what to answer with.

    The body is `bytes` long and starts at `offset` in `file` (relative to the
    prerender root). In the manifest layout the file is the body (`offset` 0,
    `file_bytes` None); in the sharded layout (`seeding.layout`) the file is a pack
    of several bodies, `file_bytes` long. The seeder reads both the same way: fetch
    the file, check its size, slice.
    """

    file: str  # relative to the prerender root, as `routes.variant_file` says
    bytes: int
    headers: Mapping[str, str]
    offset: int = 0
    file_bytes: int | None = None  # None: the file holds exactly this body

    @property
    def expected_file_bytes(self) -> int:
        return self.bytes if self.file_bytes is None else self.file_bytes


@dataclass(frozen=True)
class RouteRecord:
    path: str
    pattern: str
    status: RouteStatus
    reason: str = ""
    revalidate: int | None = None
    expire: int | None = None
    http_status: int = 200
    variants: Mapping[Variant, VariantRecord] = field(default_factory=dict)

    @property
    def seedable(self) -> bool:
        return self.status is RouteStatus.RENDERED and bool(self.variants)


@dataclass(frozen=True)
class BuildInfo:
    """What every request needs to know about the deployed build."""

    build_id: str
    built_at: float
    base_path: str = ""
    trailing_slash: bool = False


@dataclass(frozen=True)
class PrerenderManifest:
    build_id: str
    built_at: float
    base_path: str = ""
    trailing_slash: bool = False
    routes: Mapping[str, RouteRecord] = field(default_factory=dict)

    @property
    def build(self) -> BuildInfo:
        return BuildInfo(self.build_id, self.built_at, self.base_path, self.trailing_slash)

    def files(self) -> Iterator[VariantRecord]:
        """Every file the manifest promises, in route order."""
        for record in self.routes.values():
            yield from record.variants.values()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_NAME,
            "version": SCHEMA_VERSION,
            "buildId": self.build_id,
            "builtAt": self.built_at,
            "basePath": self.base_path,
            "trailingSlash": self.trailing_slash,
            "routes": {path: _route_to_dict(rec) for path, rec in self.routes.items()},
        }


def new_build_id(now: float | None = None) -> str:
    """A build id unique per build: UTC time plus 32 random bits."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(4)}"


def _route_to_dict(rec: RouteRecord) -> dict[str, Any]:
    return {
        "pattern": rec.pattern,
        "status": rec.status.value,
        "reason": rec.reason,
        "revalidate": rec.revalidate,
        "expire": rec.expire,
        "httpStatus": rec.http_status,
        "variants": {
            variant.value: {"file": v.file, "bytes": v.bytes, "headers": dict(v.headers)}
            for variant, v in rec.variants.items()
        },
    }


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers the keys its text gave more than once (plain
    `json.loads` silently keeps the last); `_Validator.mapping` refuses them."""

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
    """`json.loads`, strictly: bytes must be UTF-8 (no other encoding, no BOM), no
    NaN or Infinity, and objects remember duplicate keys. Raises ValueError (or
    UnicodeDecodeError, a subclass) for a document that breaks these rules."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    return json.loads(text, object_pairs_hook=_json_object, parse_constant=_no_constant)


def parse_manifest(text: str | bytes, source: str = "manifest.json") -> PrerenderManifest:
    """Parse and validate a manifest. Raises `ManifestError` naming the field at fault."""
    try:
        raw = loads_json(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(
            source, "(document)", f"is not valid JSON: {exc}", "re-run scripts/prerender.py"
        ) from None
    return manifest_from_dict(raw, source)


def manifest_from_dict(raw: Any, source: str = "manifest.json") -> PrerenderManifest:
    v = _Validator(source)
    obj = v.mapping(raw, "(document)")
    if obj.get("schema") != SCHEMA_NAME:
        raise ManifestError(
            source,
            "schema",
            f"is {obj.get('schema')!r}, expected {SCHEMA_NAME!r}",
            "this is not a prerender manifest of this project",
        )
    version = obj.get("version")
    if version != SCHEMA_VERSION:
        raise ManifestError(
            source,
            "version",
            f"is {version!r}, this code reads {SCHEMA_VERSION}",
            "re-run scripts/prerender.py with this version of the project",
        )
    build_id = v.string(obj.get("buildId"), "buildId", nonempty=True)
    built_at = v.number(obj.get("builtAt"), "builtAt")
    base_path = v.string(obj.get("basePath", ""), "basePath")
    if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
        raise ManifestError(
            source,
            "basePath",
            f"{base_path!r} must be '' or start with '/' and not end with '/'",
            "use e.g. '/docs'",
        )
    trailing_slash = obj.get("trailingSlash", False)
    if not isinstance(trailing_slash, bool):
        raise ManifestError(source, "trailingSlash", "must be true or false")
    routes_raw = v.mapping(obj.get("routes"), "routes")
    routes = {path: _route_from_dict(v, path, value) for path, value in routes_raw.items()}
    return PrerenderManifest(build_id, float(built_at), base_path, trailing_slash, routes)


def _route_from_dict(v: _Validator, path: str, raw: Any) -> RouteRecord:
    where = f"routes[{path!r}]"
    try:
        validate_route_key(path)
    except InvalidRouteKey as exc:
        raise ManifestError(v.source, where, str(exc), "fix the route in the site") from None
    obj = v.mapping(raw, where)
    status_raw = obj.get("status")
    try:
        status = RouteStatus(status_raw)
    except ValueError:
        raise ManifestError(
            v.source,
            f"{where}.status",
            f"is {status_raw!r}",
            "use 'rendered', 'skipped' or 'error'",
        ) from None
    revalidate = v.seconds(obj.get("revalidate"), f"{where}.revalidate")
    expire = v.seconds(obj.get("expire"), f"{where}.expire")
    if revalidate is not None and expire is not None and expire < revalidate:
        raise ManifestError(
            v.source,
            f"{where}.expire",
            f"{expire} is less than revalidate {revalidate}",
            "make expire at least the revalidate time",
        )
    http_status = v.http_status(obj.get("httpStatus", 200), f"{where}.httpStatus")
    variants: dict[Variant, VariantRecord] = {}
    for name, value in v.mapping(obj.get("variants", {}), f"{where}.variants").items():
        variant = v.variant(name, f"{where}.variants")
        variants[variant] = _variant_from_dict(v, f"{where}.variants.{name}", path, variant, value)
    if status is RouteStatus.RENDERED and not variants:
        raise ManifestError(
            v.source,
            f"{where}.variants",
            "is empty for a rendered route",
            "re-run scripts/prerender.py",
        )
    return RouteRecord(
        path=path,
        pattern=v.string(obj.get("pattern", path), f"{where}.pattern"),
        status=status,
        reason=v.string(obj.get("reason", ""), f"{where}.reason"),
        revalidate=revalidate,
        expire=expire,
        http_status=http_status,
        variants=variants,
    )


def _variant_from_dict(
    v: _Validator, where: str, path: str, variant: Variant, raw: Any
) -> VariantRecord:
    obj = v.mapping(raw, where)
    file = v.string(obj.get("file"), f"{where}.file", nonempty=True)
    expected = variant_file(path, variant)
    if file != expected:
        # The file name is a function of the route key; anything else is a manifest
        # from another contract or a tampered one (and could point outside routes/).
        raise ManifestError(
            v.source,
            f"{where}.file",
            f"is {file!r}, expected {expected!r}",
            "re-run scripts/prerender.py with this version of the project",
        )
    size = obj.get("bytes")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ManifestError(
            v.source, f"{where}.bytes", f"is {size!r}", "use the file's size in bytes"
        )
    if size > MAX_ASSET_BYTES:
        raise ManifestError(
            v.source,
            f"{where}.bytes",
            f"is {size}, over the 25 MiB asset limit",
            "make the page smaller or do not prerender it",
        )
    headers = v.mapping(obj.get("headers", {}), f"{where}.headers")
    for name, value in headers.items():
        if not isinstance(value, str):
            raise ManifestError(
                v.source,
                f"{where}.headers.{name}",
                f"is {value!r}",
                "header values must be strings",
            )
    return VariantRecord(file=file, bytes=size, headers=dict(headers))


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ManifestError(
                self.source, where, f"is {type(value).__name__}, expected an object"
            )
        for key in getattr(value, "duplicates", ()):
            if where == "(document)":
                field_name = key
            elif where == "routes":
                field_name = f"routes[{key!r}]"
            else:
                field_name = f"{where}.{key}"
            raise ManifestError(
                self.source,
                field_name,
                "is given more than once (JSON would keep only the last)",
                "re-run scripts/prerender.py; list every key once",
            )
        return value

    def string(self, value: Any, where: str, *, nonempty: bool = False) -> str:
        if not isinstance(value, str) or (nonempty and not value):
            raise ManifestError(
                self.source,
                where,
                f"is {value!r}, expected a {'non-empty ' if nonempty else ''}string",
            )
        return value

    def seconds(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ManifestError(
                self.source,
                where,
                f"is {value!r}",
                "use a positive whole number of seconds, or null for never",
            )
        seconds: int = value
        return seconds

    def http_status(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
            raise ManifestError(self.source, where, f"is {value!r}", "use an HTTP status code")
        status: int = value
        return status

    def variant(self, name: str, where: str) -> Variant:
        """A variant's name, as a key of `where` (a route's variants)."""
        try:
            return Variant(name)
        except ValueError:
            raise ManifestError(
                self.source, where, f"has unknown variant {name!r}", "use 'html' or 'data'"
            ) from None

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ManifestError(self.source, where, f"is {value!r}, expected a number")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise ManifestError(self.source, where, f"is {value!r}, expected a finite number")
        return number

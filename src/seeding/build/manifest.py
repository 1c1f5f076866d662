"""The build's manifest: the full listing of a prerender build, written by the prerender
step and read (validated) by the copy step. The Worker never reads it: it reads the
packs and the build identity the copy step makes from it. Any change to its shape bumps
MANIFEST_VERSION.

    {"schema": "lazy-seed.prerender-manifest", "version": 2,
     "buildId": "20261130T120000Z-3f2a9c1d", "builtAt": 1795550100.0,
     "basePath": "", "trailingSlash": false, "dataVariant": true,
     "routes": {
       "/blog/hello": {"pattern": "/blog/[slug]", "status": "rendered",
                       "revalidate": 60, "expire": 31536000, "tags": ["post:hello"],
                       "variants": {"html": {"file": "routes/ab/ab12...html", "bytes": 5120,
                                             "headers": {"content-type": "text/html; ..."}}}},
       "/now": {"status": "skipped", "reason": "dynamic (Cache-Control: no-store)"}}}

Fields at their default are left out (`pattern` = the path, `httpStatus` = 200,
`revalidate`/`expire` = never, no tags). Body files are named from a hash of the route
key (`variant_file`), never from the key itself.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from seeding.routes import Variant
from seeding.schema import MAX_ASSET_BYTES, RouteRecord, Validator, route_to_dict

MANIFEST_FILE = "meta/manifest.json"
ROUTES_SUBDIR = "routes"
MANIFEST_SCHEMA = "lazy-seed.prerender-manifest"
MANIFEST_VERSION = 2
FIX_PRERENDER = "re-run the prerender step with this version of the project"


@dataclass(frozen=True)
class BuiltVariant:
    """One variant's body in the build directory: `file` (relative to it), its size,
    and the headers to answer with."""

    file: str
    bytes: int
    headers: Mapping[str, str]


BuiltRoute = RouteRecord[BuiltVariant]


@dataclass(frozen=True)
class PrerenderManifest:
    build_id: str
    built_at: float
    base_path: str = ""
    trailing_slash: bool = False
    data_variant: bool = False
    routes: Mapping[str, BuiltRoute] = field(default_factory=dict)

    def files(self) -> Iterator[BuiltVariant]:
        """Every body file the manifest lists, in route order."""
        for record in self.routes.values():
            yield from record.variants.values()

    def seedable(self) -> list[BuiltRoute]:
        return [record for record in self.routes.values() if record.seedable]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": MANIFEST_SCHEMA,
            "version": MANIFEST_VERSION,
            "buildId": self.build_id,
            "builtAt": self.built_at,
            "basePath": self.base_path,
            "trailingSlash": self.trailing_slash,
            "dataVariant": self.data_variant,
            "routes": {
                path: route_to_dict(
                    record,
                    lambda v: {"file": v.file, "bytes": v.bytes, "headers": dict(v.headers)},
                )
                for path, record in self.routes.items()
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)


def variant_file(route: str, variant: Variant) -> str:
    """The build-directory file of one variant of a route."""
    digest = hashlib.sha256(route.encode("utf-8")).hexdigest()[:40]
    return f"{ROUTES_SUBDIR}/{digest[:2]}/{digest}{variant.extension}"


def new_build_id(now: float | None = None) -> str:
    """A build id unique per build: UTC time plus 32 random bits."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(4)}"


def parse_manifest(text: str | bytes, source: str = MANIFEST_FILE) -> PrerenderManifest:
    """Parse and validate a manifest; `SchemaError` names the field at fault."""
    v = Validator(source, FIX_PRERENDER)
    obj = v.document(text)
    v.schema(obj, MANIFEST_SCHEMA, MANIFEST_VERSION)
    data_variant = v.boolean(obj.get("dataVariant", False), "dataVariant")

    def built(where: str, variant: Variant, raw: Any) -> BuiltVariant:
        spec = v.mapping(raw, where)
        file = v.string(spec.get("file"), f"{where}.file", nonempty=True)
        size = v.count(spec.get("bytes"), f"{where}.bytes")
        if size > MAX_ASSET_BYTES:
            raise v.fail(
                f"{where}.bytes",
                f"is {size}, over the 25 MiB asset limit",
                "make the page smaller or do not prerender it",
            )
        return BuiltVariant(file, size, v.headers(spec.get("headers", {}), f"{where}.headers"))

    routes: dict[str, BuiltRoute] = {}
    for path, raw in v.mapping(obj.get("routes"), "routes").items():
        record = v.route(path, raw, built, data_variant=data_variant)
        for variant, located in record.variants.items():
            expected = variant_file(path, variant)
            if located.file != expected:
                # The file name is a function of the route key; anything else is a
                # manifest of another contract or a tampered one.
                raise v.fail(
                    f"routes[{path!r}].variants.{variant.value}.file",
                    f"is {located.file!r}, expected {expected!r}",
                )
        routes[path] = record
    return PrerenderManifest(
        build_id=v.string(obj.get("buildId"), "buildId", nonempty=True),
        built_at=v.number(obj.get("builtAt"), "builtAt"),
        base_path=v.base_path(obj.get("basePath", "")),
        trailing_slash=v.boolean(obj.get("trailingSlash", False), "trailingSlash"),
        data_variant=data_variant,
        routes=routes,
    )

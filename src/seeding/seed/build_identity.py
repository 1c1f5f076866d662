"""The identity of the prerendered build, shipped in the Worker's code rather than as an
asset: code and assets deploy as one version, so the Worker knows its build's id, its
site settings, its bucket count, its route filters and which buckets hold routes at
import, and a cold seed needs no fetch before the route's own pack (and none at all for
a path the filter turns away or whose bucket is empty). A second filter holds the routes
that never revalidate: those are seeded without asking the shared tier (KV) first.

The copy step writes a module named BUILD_MODULE next to the Worker's main module:

    BUILD = '{"schema": "lazy-seed.prerender-build", "version": 2, "buildId": "...",
              "builtAt": 1795550100.0, "basePath": "", "trailingSlash": false,
              "dataVariant": true, "buckets": 13, "routes": 25,
              "filter": {"bits": 288, "hashes": 8}, "static": {"bits": 96, "hashes": 8}}'
    FILTER = "<base64 of the route filter's bits>"
    STATIC = "<base64 of the filter of routes that never revalidate>"
    OCCUPIED = "<base64 of one bit a bucket: 1 if it holds a route, so its pack exists>"

`load_identity` imports it and validates it (`seeding.schema.Validator`). A missing
module means the project has no prerendered build yet (every page renders); a module
that fails to validate, or that was made for other site settings than the Worker's, is
an error logged once, and every page renders. Importing it decodes the filter: with
memory snapshots that happens at deploy, not in a request.
"""

from __future__ import annotations

import binascii
import importlib
import logging
from dataclasses import dataclass
from typing import Any

from seeding.config import SiteConfig
from seeding.schema import SchemaError, Validator
from seeding.seed.membership import RouteFilter
from seeding.seed.packs import RouteDigest

log = logging.getLogger("seeding")

BUILD_MODULE = "prerender_build"
BUILD_SCHEMA = "lazy-seed.prerender-build"
BUILD_VERSION = 2


@dataclass(frozen=True)
class BuildIdentity:
    build_id: str
    built_at: float
    base_path: str
    trailing_slash: bool
    data_variant: bool
    buckets: int
    routes: int
    filter: RouteFilter
    occupied: bytes
    static: RouteFilter

    def never_revalidates(self, digest: RouteDigest) -> bool:
        """Whether the build lists the route as prerendered and never revalidating
        (a false positive is rare and harmless: the seeded record says otherwise)."""
        return self.static.might_contain(digest) and self.filter.might_contain(digest)

    def holds_bucket(self, bucket: int) -> bool:
        """Whether `bucket` holds any route (else no pack of it was shipped)."""
        return bool(self.occupied[bucket >> 3] & (1 << (bucket & 7)))


def _bits(v: Validator, name: str, text: object, bits: int) -> bytes:
    if not isinstance(text, str):
        raise v.fail(name, f"is {type(text).__name__}, expected a base64 string")
    try:
        data = binascii.a2b_base64(text)
    except (binascii.Error, ValueError) as exc:
        raise v.fail(name, f"is not base64: {exc}") from None
    if len(data) != (bits + 7) // 8:
        raise v.fail(name, f"holds {len(data)} bytes, {bits} bits need {(bits + 7) // 8}")
    return data


def _filter(v: Validator, obj: dict[str, Any], field: str, name: str, text: object) -> RouteFilter:
    spec = v.mapping(obj.get(field), field)
    bits = v.count(spec.get("bits"), f"{field}.bits", minimum=1)
    hashes = v.count(spec.get("hashes"), f"{field}.hashes", minimum=1)
    return RouteFilter(_bits(v, name, text, bits), bits, hashes)


def parse_identity(
    build: object,
    filter_b64: object,
    occupied_b64: object,
    static_b64: object,
    source: str = BUILD_MODULE,
) -> BuildIdentity:
    """Validate the module's values; `SchemaError` names the field at fault."""
    v = Validator(source)
    if not isinstance(build, str):
        raise v.fail("BUILD", f"is {type(build).__name__}, expected a JSON string")
    obj = v.document(build)
    v.schema(obj, BUILD_SCHEMA, BUILD_VERSION)
    buckets = v.count(obj.get("buckets"), "buckets", minimum=1)
    return BuildIdentity(
        build_id=v.string(obj.get("buildId"), "buildId", nonempty=True),
        built_at=v.number(obj.get("builtAt"), "builtAt"),
        base_path=v.base_path(obj.get("basePath", "")),
        trailing_slash=v.boolean(obj.get("trailingSlash", False), "trailingSlash"),
        data_variant=v.boolean(obj.get("dataVariant", False), "dataVariant"),
        buckets=buckets,
        routes=v.count(obj.get("routes"), "routes"),
        filter=_filter(v, obj, "filter", "FILTER", filter_b64),
        occupied=_bits(v, "OCCUPIED", occupied_b64, buckets),
        static=_filter(v, obj, "static", "STATIC", static_b64),
    )


def identity_of(generated: object, source: str = BUILD_MODULE) -> BuildIdentity:
    """The identity held by a module object (or any object with its attributes)."""
    return parse_identity(
        getattr(generated, "BUILD", None),
        getattr(generated, "FILTER", None),
        getattr(generated, "OCCUPIED", None),
        getattr(generated, "STATIC", None),
        source,
    )


def check_site(identity: BuildIdentity, config: SiteConfig, source: str = BUILD_MODULE) -> None:
    """Raise `SchemaError` when the build was made for other URL settings than the
    Worker's site: its route keys would not be the ones requests resolve to."""
    built = (identity.base_path, identity.trailing_slash, identity.data_variant)
    wanted = (config.base_path, config.trailing_slash, config.data_variant)
    if built != wanted:
        raise SchemaError(
            source,
            "basePath/trailingSlash/dataVariant",
            f"are {built}, the site is configured with {wanted}",
            "rebuild and redeploy",
        )


def load_identity(config: SiteConfig, module: str = BUILD_MODULE) -> BuildIdentity | None:
    """The deployed build's identity, or None (logged) when there is none to use."""
    try:
        generated = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        log.warning(
            "seeding: no %s module: nothing is prerendered, every page renders "
            "(run the prerender and copy steps before deploying)",
            module,
        )
        return None
    try:
        identity = identity_of(generated, module)
        check_site(identity, config, module)
    except SchemaError as exc:
        log.error("seeding: %s; every page renders", exc)
        return None
    return identity

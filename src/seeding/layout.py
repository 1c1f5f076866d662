"""The sharded prerender layout: what the copy script writes and the Worker reads when
a cold seed must cost the same for a site of 1,000 routes as for one of 100,000.

Why not the manifest alone: one JSON manifest of 100,000 routes is ~13 MB and took
~1.3 s of CPU and 28 MB to parse in Pyodide, once per isolate, before the first page
could be seeded. Why not one file per route variant: 100,000 routes with an HTML and
a data variant are 200,000 files, twice the Paid plan's 100,000 asset files per
version (and 15,000 routes, 30,000 files, are over the Free plan's 20,000).

The layout, under the prerender root (`<assets>/__prerender/`):

    meta/build.json              the build's facts and the layout's sizes (< 1 KB)
    index/<shard>.json           records of the routes hashed into <shard>
    packs/<shard>/<pack>.bin     the bodies of ROUTES_PER_PACK routes of that shard,
                                 every variant of a route back to back

- A route's shard is a function of its key alone (`route_shard`: the first 8 bytes of
  sha256(route key) as a big-endian integer, modulo the shard count), so the Worker
  finds it without any other index. The shard count follows the route count
  (`shard_count_for`: about ROUTES_PER_SHARD routes a shard), so a shard's size, and
  the cost of fetching and parsing one, does not grow with the site.
- A shard lists every route the build listed in it, with its exact key: looking a
  path up in its shard is the exact membership check (no probabilistic filter, no
  false positive), and it is made before any pack is fetched. An unlisted path costs
  build.json (once per isolate) and its shard (kept in a small LRU), never a pack.
- A shard record says where each variant's body is: pack, offset, length, and an
  index into the shard's table of header sets. A pack holds the bodies of
  ROUTES_PER_PACK consecutive routes of one shard (route keys sorted), so one pack
  fetch brings both variants of the requested route plus one neighbour's: the bytes
  fetched for a cold seed are about two routes' worth whatever the site's size.
- Files: 1 + shards + packs ~ 1 + n/128 + n/2 for n routes with both variants
  (100,000 routes: ~51,200 files; 15,000: ~7,700), under both plans' limits, and each
  pack stays under the 25 MiB per-file limit (a pack is closed early rather than
  grown past it, so a huge page gets a pack of its own).

Alternatives weighed: HTTP range requests into a few large packs would fetch only the
route's own bytes, but the `ASSETS` binding's range support is not something the
project can rely on (or test locally); one pack per route fits the Free plan only up
to ~19,000 routes and the Paid one only while routes + shards < 100,000; a pack per
shard would fetch ~128 routes' bodies for one. Two routes a pack is the smallest
grouping that keeps 100,000 routes with both variants well inside 100,000 files.

Both schemas (build.json and shards) are versioned with LAYOUT_VERSION and validated
with errors that name the file, the field and the fix (`ManifestError`, as for the
manifest). The build directory keeps the manifest as the build's full listing; the
copy script plans the layout from it (`plan_layout`) and writes the files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from seeding.manifest import (
    MAX_ASSET_BYTES,
    BuildInfo,
    ManifestError,
    PrerenderManifest,
    RouteRecord,
    RouteStatus,
    VariantRecord,
    _Validator,
    loads_json,
)
from seeding.routes import InvalidRouteKey, Variant, validate_route_key

BUILD_FILE = "meta/build.json"
INDEX_SUBDIR = "index"
PACKS_SUBDIR = "packs"

BUILD_SCHEMA_NAME = "lazy-seed.prerender-build"
SHARD_SCHEMA_NAME = "lazy-seed.prerender-shard"
LAYOUT_VERSION = 1
HASH_ALGORITHM = "sha256-u64be-mod"

# Routes a shard holds on average; shards hold between about 64 and 256 routes for
# any site of more than 64 routes (and the average stays within a few percent of
# this from 1,000 routes up, so a shard's size does not grow with the site).
ROUTES_PER_SHARD = 128
# Routes whose bodies share a pack: 2 keeps 100,000 routes x 2 variants at ~51,000
# files, and a cold seed's pack at two routes' bodies.
ROUTES_PER_PACK = 2

_FIX_COPY = "re-run scripts/copy_prerender.py with this version of the project and redeploy"


def shard_count_for(routes: int) -> int:
    """The number of shards for a build listing `routes` routes (at least 1)."""
    return max(1, round(routes / ROUTES_PER_SHARD))


def route_shard(route: str, shards: int) -> int:
    """The shard that holds `route`'s record, for a layout of `shards` shards."""
    digest = hashlib.sha256(route.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_file(shard: int) -> str:
    """The file of one shard, relative to the prerender root."""
    return f"{INDEX_SUBDIR}/{shard}.json"


def pack_file(shard: int, pack: int) -> str:
    """The file of one pack of a shard, relative to the prerender root."""
    return f"{PACKS_SUBDIR}/{shard}/{pack}.bin"


# --- meta/build.json ----------------------------------------------------------------


@dataclass(frozen=True)
class BuildLayout:
    """meta/build.json: the build's facts plus the sizes of its sharded layout.

    {"schema": "lazy-seed.prerender-build", "version": 1,
     "buildId": "20261124T195500Z-3f2a9c1d", "builtAt": 1795550100.0,
     "basePath": "", "trailingSlash": false,
     "hash": "sha256-u64be-mod", "shards": 781, "packs": 50391, "routes": 100000}
    """

    build: BuildInfo
    shards: int
    packs: int
    routes: int
    hash: str = HASH_ALGORITHM

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": BUILD_SCHEMA_NAME,
            "version": LAYOUT_VERSION,
            "buildId": self.build.build_id,
            "builtAt": self.build.built_at,
            "basePath": self.build.base_path,
            "trailingSlash": self.build.trailing_slash,
            "hash": self.hash,
            "shards": self.shards,
            "packs": self.packs,
            "routes": self.routes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)


def _check_schema(v: _Validator, obj: dict[str, Any], name: str) -> None:
    if obj.get("schema") != name:
        raise ManifestError(
            v.source,
            "schema",
            f"is {obj.get('schema')!r}, expected {name!r}",
            "this is not a file of the sharded prerender layout",
        )
    if obj.get("version") != LAYOUT_VERSION:
        raise ManifestError(
            v.source,
            "version",
            f"is {obj.get('version')!r}, this code reads {LAYOUT_VERSION}",
            _FIX_COPY,
        )


def _count(v: _Validator, value: Any, where: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ManifestError(
            v.source, where, f"is {value!r}, expected a whole number >= {minimum}", _FIX_COPY
        )
    number: int = value
    return number


def _loads(text: str | bytes, source: str) -> Any:
    # The manifest's strict reader: UTF-8 only, no NaN/Infinity, duplicate keys
    # remembered (and refused by `_Validator.mapping`).
    try:
        return loads_json(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(source, "(document)", f"is not valid JSON: {exc}", _FIX_COPY) from None


def parse_build_layout(text: str | bytes, source: str = BUILD_FILE) -> BuildLayout:
    """Parse and validate meta/build.json; `ManifestError` names the field at fault."""
    v = _Validator(source)
    obj = v.mapping(_loads(text, source), "(document)")
    _check_schema(v, obj, BUILD_SCHEMA_NAME)
    build_id = v.string(obj.get("buildId"), "buildId", nonempty=True)
    built_at = v.number(obj.get("builtAt"), "builtAt")
    base_path = v.string(obj.get("basePath", ""), "basePath")
    if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
        raise ManifestError(
            source, "basePath", f"{base_path!r} must be '' or start with '/' and not end with '/'"
        )
    trailing_slash = obj.get("trailingSlash", False)
    if not isinstance(trailing_slash, bool):
        raise ManifestError(source, "trailingSlash", "must be true or false")
    hash_name = obj.get("hash")
    if hash_name != HASH_ALGORITHM:
        raise ManifestError(
            source, "hash", f"is {hash_name!r}, this code hashes with {HASH_ALGORITHM!r}", _FIX_COPY
        )
    return BuildLayout(
        build=BuildInfo(build_id, built_at, base_path, trailing_slash),
        shards=_count(v, obj.get("shards"), "shards", minimum=1),
        packs=_count(v, obj.get("packs"), "packs"),
        routes=_count(v, obj.get("routes"), "routes"),
    )


# --- index/<shard>.json -------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """One parsed shard: the records of its routes, ready for the seeder.

    File format (compact JSON; fields at their default are left out):

        {"schema": "lazy-seed.prerender-shard", "version": 1,
         "buildId": "...", "shard": 17, "shards": 781,
         "packs": [24310, 20211],                  # byte size of packs/17/<n>.bin
         "headers": [{"content-type": "text/html; charset=utf-8"},
                     {"content-type": "application/json"}],
         "routes": {
           "/blog/hello": {"revalidate": 60, "expire": 31536000,
                           "variants": {"html": [0, 0, 10240, 0],   # pack, offset,
                                        "data": [0, 10240, 2048, 1]}},  # bytes, headers
           "/now": {"status": "skipped"}}}

    `status` defaults to "rendered", `httpStatus` to 200, `revalidate` and `expire`
    to null (never). A route's `pattern` and `reason` stay in the manifest only.
    """

    shard: int
    build_id: str
    routes: Mapping[str, RouteRecord]
    pack_sizes: tuple[int, ...]
    source_bytes: int  # size of the JSON it was parsed from


def parse_shard(text: str | bytes, source: str, *, layout: BuildLayout, shard: int) -> Shard:
    """Parse and validate one shard of `layout`. Raises `ManifestError` naming the
    field at fault: a shard from another build, of another shard count, listing a
    route that does not hash to it, or pointing outside its packs is refused whole."""
    v = _Validator(source)
    obj = v.mapping(_loads(text, source), "(document)")
    _check_schema(v, obj, SHARD_SCHEMA_NAME)
    build_id = v.string(obj.get("buildId"), "buildId", nonempty=True)
    if build_id != layout.build.build_id:
        raise ManifestError(
            source,
            "buildId",
            f"is {build_id!r}, {BUILD_FILE} says {layout.build.build_id!r}",
            "the prerender copy mixes two builds; " + _FIX_COPY,
        )
    if _count(v, obj.get("shard"), "shard") != shard:
        raise ManifestError(
            source, "shard", f"is {obj.get('shard')!r}, expected {shard}", _FIX_COPY
        )
    if _count(v, obj.get("shards"), "shards", minimum=1) != layout.shards:
        raise ManifestError(
            source,
            "shards",
            f"is {obj.get('shards')!r}, {BUILD_FILE} says {layout.shards}",
            _FIX_COPY,
        )
    packs_raw = obj.get("packs")
    if not isinstance(packs_raw, list):
        raise ManifestError(source, "packs", f"is {type(packs_raw).__name__}, expected a list")
    pack_sizes = tuple(_count(v, size, f"packs[{n}]") for n, size in enumerate(packs_raw))
    for n, size in enumerate(pack_sizes):
        if size > MAX_ASSET_BYTES:
            raise ManifestError(source, f"packs[{n}]", f"is {size}, over the 25 MiB asset limit")
    headers_raw = obj.get("headers")
    if not isinstance(headers_raw, list):
        raise ManifestError(source, "headers", f"is {type(headers_raw).__name__}, expected a list")
    header_sets: list[Mapping[str, str]] = []
    for n, raw in enumerate(headers_raw):
        headers = v.mapping(raw, f"headers[{n}]")
        for name, value in headers.items():
            if not isinstance(value, str):
                raise ManifestError(
                    source, f"headers[{n}].{name}", f"is {value!r}", "header values must be strings"
                )
        header_sets.append(headers)
    routes: dict[str, RouteRecord] = {}
    for path, raw in v.mapping(obj.get("routes"), "routes").items():
        routes[path] = _shard_route(v, path, raw, layout, shard, pack_sizes, header_sets)
    return Shard(shard, build_id, routes, pack_sizes, len(text))


def _shard_route(
    v: _Validator,
    path: str,
    raw: Any,
    layout: BuildLayout,
    shard: int,
    pack_sizes: tuple[int, ...],
    header_sets: list[Mapping[str, str]],
) -> RouteRecord:
    where = f"routes[{path!r}]"
    try:
        validate_route_key(path)
    except InvalidRouteKey as exc:
        raise ManifestError(v.source, where, str(exc), "fix the route in the site") from None
    if route_shard(path, layout.shards) != shard:
        raise ManifestError(
            v.source,
            where,
            f"hashes to shard {route_shard(path, layout.shards)}, not {shard}",
            _FIX_COPY,
        )
    obj = v.mapping(raw, where)
    try:
        status = RouteStatus(obj.get("status", RouteStatus.RENDERED.value))
    except ValueError:
        raise ManifestError(
            v.source,
            f"{where}.status",
            f"is {obj.get('status')!r}",
            "use 'rendered', 'skipped' or 'error'",
        ) from None
    revalidate = v.seconds(obj.get("revalidate"), f"{where}.revalidate")
    expire = v.seconds(obj.get("expire"), f"{where}.expire")
    http_status = v.http_status(obj.get("httpStatus", 200), f"{where}.httpStatus")
    variants: dict[Variant, VariantRecord] = {}
    for name, location in v.mapping(obj.get("variants", {}), f"{where}.variants").items():
        vwhere = f"{where}.variants.{name}"
        variant = v.variant(name, f"{where}.variants")
        if not isinstance(location, list) or len(location) != 4:
            raise ManifestError(
                v.source, vwhere, f"is {location!r}", "expected [pack, offset, bytes, headers]"
            )
        pack = _count(v, location[0], f"{vwhere}[0] (pack)")
        offset = _count(v, location[1], f"{vwhere}[1] (offset)")
        size = _count(v, location[2], f"{vwhere}[2] (bytes)")
        headers_ref = _count(v, location[3], f"{vwhere}[3] (headers)")
        if pack >= len(pack_sizes):
            raise ManifestError(
                v.source,
                f"{vwhere}[0] (pack)",
                f"is {pack}, the shard has {len(pack_sizes)}",
                _FIX_COPY,
            )
        if offset + size > pack_sizes[pack]:
            raise ManifestError(
                v.source,
                vwhere,
                f"ends at byte {offset + size}, past the end of pack {pack} "
                f"({pack_sizes[pack]} bytes)",
                _FIX_COPY,
            )
        if headers_ref >= len(header_sets):
            raise ManifestError(
                v.source,
                f"{vwhere}[3] (headers)",
                f"is {headers_ref}, the shard has {len(header_sets)} header sets",
                _FIX_COPY,
            )
        variants[variant] = VariantRecord(
            file=pack_file(shard, pack),
            bytes=size,
            headers=header_sets[headers_ref],
            offset=offset,
            file_bytes=pack_sizes[pack],
        )
    if status is RouteStatus.RENDERED and not variants:
        raise ManifestError(
            v.source, f"{where}.variants", "is empty for a rendered route", _FIX_COPY
        )
    return RouteRecord(
        path=path,
        pattern=path,
        status=status,
        revalidate=revalidate,
        expire=expire,
        http_status=http_status,
        variants=variants,
    )


# --- planning (build time) ----------------------------------------------------------


class PackPart(NamedTuple):
    """One body placed in a pack: `source` is its record in the build's manifest."""

    route: str
    variant: Variant
    source: VariantRecord
    offset: int


@dataclass
class PackPlan:
    parts: list[PackPart] = field(default_factory=list)
    size: int = 0
    routes: int = 0  # routes that started in this pack


@dataclass
class ShardPlan:
    shard: int
    routes: list[RouteRecord] = field(default_factory=list)
    packs: list[PackPlan] = field(default_factory=list)
    # route -> variant -> (pack, offset, bytes)
    locations: dict[str, dict[Variant, tuple[int, int, int]]] = field(default_factory=dict)

    def to_dict(self, layout: BuildLayout) -> dict[str, Any]:
        header_sets: list[dict[str, str]] = []
        header_refs: dict[tuple[tuple[str, str], ...], int] = {}
        routes: dict[str, Any] = {}
        for record in self.routes:
            entry: dict[str, Any] = {}
            if record.status is not RouteStatus.RENDERED:
                entry["status"] = record.status.value
            if record.revalidate is not None:
                entry["revalidate"] = record.revalidate
            if record.expire is not None:
                entry["expire"] = record.expire
            if record.http_status != 200:
                entry["httpStatus"] = record.http_status
            located = self.locations.get(record.path, {})
            variants: dict[str, list[int]] = {}
            for variant, info in record.variants.items():
                if variant not in located:
                    continue
                signature = tuple(sorted(info.headers.items()))
                ref = header_refs.get(signature)
                if ref is None:
                    ref = header_refs[signature] = len(header_sets)
                    header_sets.append(dict(info.headers))
                pack, offset, size = located[variant]
                variants[variant.value] = [pack, offset, size, ref]
            if variants:
                entry["variants"] = variants
            routes[record.path] = entry
        return {
            "schema": SHARD_SCHEMA_NAME,
            "version": LAYOUT_VERSION,
            "buildId": layout.build.build_id,
            "shard": self.shard,
            "shards": layout.shards,
            "packs": [pack.size for pack in self.packs],
            "headers": header_sets,
            "routes": routes,
        }

    def to_json(self, layout: BuildLayout) -> str:
        return json.dumps(self.to_dict(layout), separators=(",", ":"), ensure_ascii=False)


@dataclass
class LayoutPlan:
    layout: BuildLayout
    shards: list[ShardPlan]

    @property
    def pack_count(self) -> int:
        return sum(len(s.packs) for s in self.shards)

    @property
    def file_count(self) -> int:
        """Files the layout ships: build.json, every shard, every pack."""
        return 1 + len(self.shards) + self.pack_count

    def files(self) -> list[str]:
        out = [BUILD_FILE]
        for s in self.shards:
            out.append(shard_file(s.shard))
            out.extend(pack_file(s.shard, n) for n in range(len(s.packs)))
        return out

    @property
    def largest_pack(self) -> int:
        return max((p.size for s in self.shards for p in s.packs), default=0)


def plan_layout(
    manifest: PrerenderManifest,
    *,
    routes_per_pack: int = ROUTES_PER_PACK,
    max_pack_bytes: int = MAX_ASSET_BYTES,
) -> LayoutPlan:
    """Decide, without reading or writing a file, which shard lists each route and
    which pack holds each body. Pure and deterministic: the same manifest gives the
    same plan. Every listed route gets a record in its shard; only the variants of
    rendered routes get a place in a pack."""
    shard_count = shard_count_for(len(manifest.routes))
    plans = [ShardPlan(shard) for shard in range(shard_count)]
    for path in sorted(manifest.routes):
        plans[route_shard(path, shard_count)].routes.append(manifest.routes[path])
    for plan in plans:
        current: PackPlan | None = None
        for record in plan.routes:
            if not record.seedable:
                continue
            if current is None or current.routes >= routes_per_pack:
                current = _new_pack(plan)
            current.routes += 1
            located: dict[Variant, tuple[int, int, int]] = {}
            for variant, info in record.variants.items():
                if current.size and current.size + info.bytes > max_pack_bytes:
                    current = _new_pack(plan)
                    current.routes = 1
                current.parts.append(PackPart(record.path, variant, info, current.size))
                located[variant] = (len(plan.packs) - 1, current.size, info.bytes)
                current.size += info.bytes
            plan.locations[record.path] = located
    packs = sum(len(p.packs) for p in plans)
    layout = BuildLayout(manifest.build, shard_count, packs, len(manifest.routes))
    return LayoutPlan(layout, plans)


def _new_pack(plan: ShardPlan) -> PackPlan:
    pack = PackPlan()
    plan.packs.append(pack)
    return pack

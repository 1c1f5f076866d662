"""The prerender layout the Worker reads: where a route's bodies are, found from its key
alone, in one file, with the route's record inside that file.

    /__prerender/packs/<bucket>.bin        part 0 of a bucket: every route of it
    /__prerender/packs/<bucket>-<n>.bin    part n, only for a bucket over 25 MiB

A route's bucket is a function of its key (`RouteDigest.bucket`: sha256 of the key, its
first 8 bytes big-endian, modulo the build's bucket count, which the Worker knows
without a fetch: `seeding.seed.build_identity`). So a cold seed is one asset fetch: the
bucket's pack, whose header lists the bucket's routes with their records and the
place of each variant's body. Membership is checked in that header (exact), after the
build's route filter (`seeding.seed.membership`) has already turned away almost every
unlisted path with no fetch at all. A pack names its build: a pack of another build
than the Worker's identity is refused, so a mismatched deploy renders instead of
serving another build's page.

A pack is one ASCII line, `LSPACK <version> <header bytes>`, then the header (compact
JSON), then the data: the bodies back to back, offsets relative to the data's start.

    {"buildId": "20261130T120000Z-3f2a9c1d", "bucket": 17, "part": 0, "dataBytes": 24310,
     "headers": [{"content-type": "text/html; charset=utf-8"}, ...],
     "routes": {"/blog/hello": {"status": "rendered", "revalidate": 60, "tags": ["post:hello"],
                                "variants": {"html": [0, 0, 10240, 0],    # part, offset,
                                             "data": [0, 10240, 2048, 1]}}}}  # bytes, headers

The bucket count is about half the number of routes, so a pack holds about two routes
(a Poisson spread: some buckets are empty and ship no file). Part headers after the
first carry no routes. The format is versioned by PACK_VERSION; the header is read
with `seeding.schema.Validator`, and any error refuses the pack whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import KeysView, Mapping
from dataclasses import dataclass
from typing import Any

from seeding.routes import Variant
from seeding.schema import MAX_ASSET_BYTES, RouteRecord, RouteStatus, Validator

PACKS_SUBDIR = "packs"
PACK_MAGIC = b"LSPACK"
PACK_VERSION = 1
# The magic, the version and the header length fit well within this.
MAX_PREAMBLE = 64


@dataclass(frozen=True)
class RouteDigest:
    """sha256 of a route key: its bucket and its filter positions come from it, so a
    lookup hashes the key once."""

    digest: bytes

    @classmethod
    def of(cls, route: str) -> RouteDigest:
        return cls(hashlib.sha256(route.encode("utf-8", "surrogatepass")).digest())

    def bucket(self, buckets: int) -> int:
        return int.from_bytes(self.digest[:8], "big") % buckets


def pack_file(bucket: int, part: int = 0) -> str:
    """A pack's file, relative to the prerender root."""
    return f"{PACKS_SUBDIR}/{bucket}.bin" if part == 0 else f"{PACKS_SUBDIR}/{bucket}-{part}.bin"


@dataclass(frozen=True)
class PackedVariant:
    """Where one variant's body is: `bytes` long at `offset` in the data of `part`."""

    part: int
    offset: int
    bytes: int
    headers: dict[str, str]


class Pack:
    """One parsed pack. Its frame (preamble, build, bucket, part, data size, header sets)
    is checked by `parse_pack`; a route's record when it is looked up (`route`), so a cold
    seed reads the one record it needs, not every record of the bucket."""

    def __init__(
        self,
        build_id: str,
        bucket: int,
        part: int,
        data: memoryview,
        listed: Mapping[str, Any],
        header_sets: list[dict[str, str]],
        validator: Validator,
        data_variant: bool,
    ) -> None:
        self.build_id = build_id
        self.bucket = bucket
        self.part = part
        self.data = data
        self._listed = listed
        self._header_sets = header_sets
        self._v = validator
        self._data_variant = data_variant

    @property
    def paths(self) -> KeysView[str]:
        """The route keys the pack lists (part 0; none in later parts)."""
        return self._listed.keys()

    def route(self, path: str) -> RouteRecord[PackedVariant] | None:
        """The record of `path`, or None when the pack does not list it as seedable.
        Raises `SchemaError` naming the field when its record is malformed."""
        raw = self._listed.get(path)
        if raw is None:
            return None
        record = self._v.route(
            path,
            raw,
            self._located,
            data_variant=self._data_variant,
            default_status=RouteStatus.RENDERED,
        )
        return record if record.seedable else None

    def body(self, located: PackedVariant) -> bytes:
        return bytes(self.data[located.offset : located.offset + located.bytes])

    def _located(self, where: str, _variant: Variant, value: Any) -> PackedVariant:
        v = self._v
        if not isinstance(value, list) or len(value) != 4:
            raise v.fail(where, f"is {value!r:.80}", "expected [part, offset, bytes, headers]")
        at_part = v.count(value[0], f"{where}[0] (part)")
        offset = v.count(value[1], f"{where}[1] (offset)")
        size = v.count(value[2], f"{where}[2] (bytes)")
        ref = v.count(value[3], f"{where}[3] (headers)")
        if at_part == 0 and offset + size > len(self.data):
            raise v.fail(where, f"ends at byte {offset + size}, past the data ({len(self.data)})")
        if offset + size > MAX_ASSET_BYTES:
            raise v.fail(where, f"ends at byte {offset + size}, past the 25 MiB asset limit")
        if ref >= len(self._header_sets):
            raise v.fail(f"{where}[3] (headers)", f"is {ref}, there are {len(self._header_sets)}")
        return PackedVariant(at_part, offset, size, self._header_sets[ref])


def encode_preamble(header: bytes) -> bytes:
    return b"%s %d %d\n" % (PACK_MAGIC, PACK_VERSION, len(header))


def parse_pack(
    raw: bytes,
    source: str,
    *,
    build_id: str,
    bucket: int,
    part: int = 0,
    data_variant: bool = False,
) -> Pack:
    """Read one pack of `bucket`. Raises `SchemaError` naming the field at fault for
    anything but a pack of this build, bucket and part, with its data whole; a route's
    record is checked when it is looked up (`Pack.route`)."""
    v = Validator(source)
    newline = raw.find(b"\n", 0, MAX_PREAMBLE)
    words = raw[:newline].split(b" ") if newline > 0 else []
    if len(words) != 3 or words[0] != PACK_MAGIC or not words[2].isdigit():
        raise v.fail("(preamble)", "is not 'LSPACK <version> <header bytes>'")
    if words[1] != str(PACK_VERSION).encode():
        raise v.fail("(preamble)", f"is version {words[1]!r}, this code reads {PACK_VERSION}")
    header_end = newline + 1 + int(words[2])
    if header_end > len(raw):
        raise v.fail("(header)", f"ends at byte {header_end}, the file has {len(raw)}")
    obj = v.document(raw[newline + 1 : header_end])
    found = v.string(obj.get("buildId"), "buildId", nonempty=True)
    if found != build_id:
        raise v.fail(
            "buildId",
            f"is {found!r}, this Worker was deployed with build {build_id!r}",
            "the assets and the Worker come from different builds; deploy them together",
        )
    if v.count(obj.get("bucket"), "bucket") != bucket:
        raise v.fail("bucket", f"is {obj.get('bucket')!r}, expected {bucket}")
    if v.count(obj.get("part"), "part") != part:
        raise v.fail("part", f"is {obj.get('part')!r}, expected {part}")
    data = memoryview(raw)[header_end:]
    declared = v.count(obj.get("dataBytes"), "dataBytes")
    if declared != len(data):
        raise v.fail("dataBytes", f"is {declared}, the file holds {len(data)} bytes of data")
    listed: Mapping[str, Any] = {}
    header_sets: list[dict[str, str]] = []
    if part == 0:
        header_sets = [
            v.headers(h, f"headers[{n}]")
            for n, h in enumerate(_list(v, obj.get("headers"), "headers"))
        ]
        listed = v.mapping(obj.get("routes"), "routes")
    return Pack(found, bucket, part, data, listed, header_sets, v, data_variant)


def _list(v: Validator, value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise v.fail(where, f"is {type(value).__name__}, expected a list")
    return value

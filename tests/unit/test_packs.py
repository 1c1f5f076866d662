"""The pack format the Worker reads: what the copy step writes parses back to the same
records and bodies, and anything else is refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seeding.build.plan import encode_part, plan_packs
from seeding.routes import Variant
from seeding.schema import SchemaError
from seeding.seed.packs import RouteDigest, encode_preamble, pack_file, parse_pack
from tests.unit.test_plan import manifest


def test_the_bucket_and_the_file_names_are_pinned() -> None:
    # Changing either breaks every deployed Worker's lookups: pin them.
    assert RouteDigest.of("/blog/hello").bucket(781) == 184
    assert pack_file(17) == "packs/17.bin" and pack_file(17, 2) == "packs/17-2.bin"


def fake_body(placed) -> bytes:
    return f"{placed.route}:{placed.variant.value}".encode().ljust(placed.source.bytes, b".")


def test_a_planned_pack_parses_back_to_its_routes_and_bodies() -> None:
    plan = plan_packs(manifest(50, html=40, data=30))
    for bucket in plan.plans:
        raw = encode_part(plan, bucket, 0, fake_body)
        pack = parse_pack(raw, "p", build_id="b1", bucket=bucket.bucket, data_variant=True)
        assert set(pack.paths) == {record.path for record in bucket.routes}
        for route in pack.paths:
            record = pack.route(route)
            assert record is not None
            for variant, located in record.variants.items():
                body = pack.body(located)
                assert body.startswith(f"{route}:{variant.value}".encode())
                assert len(body) == (40 if variant is Variant.HTML else 30)
                assert located.headers == {"x": "h" if variant is Variant.HTML else "d"}


def packed(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return encode_preamble(text) + text + data


GOOD = {
    "buildId": "b1",
    "bucket": 3,
    "part": 0,
    "dataBytes": 4,
    "headers": [{"content-type": "text/html"}],
    "routes": {"/a": {"revalidate": 60, "tags": ["t"], "variants": {"html": [0, 0, 4, 0]}}},
}


def test_a_valid_pack_reads_its_record() -> None:
    pack = parse_pack(packed(GOOD, b"body"), "p", build_id="b1", bucket=3)
    record = pack.route("/a")
    assert record is not None
    assert record.revalidate == 60 and record.tags == ("t",)
    assert pack.body(record.variants[Variant.HTML]) == b"body"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"buildId": "b2"}, "buildId"),
        ({"bucket": 4}, "bucket"),
        ({"part": 1}, "part"),
        ({"dataBytes": 5}, "dataBytes"),
        ({"headers": {}}, "headers"),
        ({"routes": {"/a": {"variants": {"html": [0, 2, 4, 0]}}}}, "routes['/a'].variants.html"),
        (
            {"routes": {"/a": {"variants": {"html": [0, 0, 4, 1]}}}},
            "routes['/a'].variants.html[3] (headers)",
        ),
        ({"routes": {"/a": {"variants": {"html": [0, 0]}}}}, "routes['/a'].variants.html"),
        ({"routes": {"/a": {"variants": {"rsc": [0, 0, 4, 0]}}}}, "routes['/a'].variants"),
        ({"routes": {"../a": {"variants": {"html": [0, 0, 4, 0]}}}}, "routes['../a']"),
        (
            {"routes": {"/a": {"revalidate": 0, "variants": {"html": [0, 0, 4, 0]}}}},
            "routes['/a'].revalidate",
        ),
    ],
)
def test_a_pack_that_breaks_a_rule_is_refused_naming_the_field(change: dict, field: str) -> None:
    """A frame field refuses the pack at parse; a route's record, when it is looked up."""
    with pytest.raises(SchemaError) as info:
        pack = parse_pack(
            packed({**GOOD, **change}, b"body"), "/__prerender/p", build_id="b1", bucket=3
        )
        for path in pack.paths:
            pack.route(path)
    assert info.value.field_name == field
    assert str(info.value).startswith("/__prerender/p: " + field)


@pytest.mark.parametrize(
    "raw", [b"", b"garbage", b"LSPACK 2 2\n{}", b"LSPACK 1 99\n{}", b"LSPACK 1 1\n{", b"\xff" * 80]
)
def test_bytes_that_are_not_a_pack_are_refused(raw: bytes) -> None:
    with pytest.raises(SchemaError):
        parse_pack(raw, "p", build_id="b1", bucket=3)


def test_a_pack_of_another_build_says_how_to_fix_it() -> None:
    with pytest.raises(SchemaError, match="deploy them together"):
        parse_pack(packed(GOOD, b"body"), "p", build_id="other", bucket=3)


def test_the_example_copy_is_read_back_by_the_worker_reader(tmp_path: Path) -> None:
    from tests.unit.support import build_once, copy

    deploy = copy(build_once(tmp_path / "build"), tmp_path / "public")
    identity = deploy.identity()
    seen = set()
    for path in sorted((deploy.root / "packs").iterdir()):
        bucket = int(path.stem.split("-")[0])
        pack = parse_pack(
            path.read_bytes(),
            path.name,
            build_id=identity.build_id,
            bucket=bucket,
            data_variant=True,
        )
        seen |= {path for path in pack.paths if pack.route(path) is not None}
    assert seen == {"/", "/about", "/blog", "/blog/first", "/blog/second"}

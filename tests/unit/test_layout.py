"""seeding.layout: the shared mapping (route -> shard -> files), the planner, and the
build.json and shard schemas with errors that name the file, the field and the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.synthetic_site import SiteSpec, synthetic_manifest
from seeding.layout import (
    BUILD_FILE,
    HASH_ALGORITHM,
    LAYOUT_VERSION,
    ROUTES_PER_SHARD,
    BuildLayout,
    pack_file,
    parse_build_layout,
    parse_shard,
    plan_layout,
    route_shard,
    shard_count_for,
    shard_file,
)
from seeding.manifest import (
    BuildInfo,
    ManifestError,
    PrerenderManifest,
    RouteRecord,
    RouteStatus,
    VariantRecord,
)
from seeding.routes import Variant, variant_file


def small_manifest() -> PrerenderManifest:
    def rendered(path: str, html: int, data: int, **kw: Any) -> RouteRecord:
        return RouteRecord(
            path,
            path,
            RouteStatus.RENDERED,
            variants={
                Variant.HTML: VariantRecord(
                    variant_file(path, Variant.HTML), html, {"content-type": "text/html"}
                ),
                Variant.DATA: VariantRecord(
                    variant_file(path, Variant.DATA), data, {"content-type": "application/json"}
                ),
            },
            **kw,
        )

    routes = {
        "/": rendered("/", 100, 10),
        "/a": rendered("/a", 200, 20, revalidate=60, expire=600),
        "/b": rendered("/b", 300, 30, http_status=203),
        "/c": rendered("/c", 400, 40),
        "/skip": RouteRecord("/skip", "/skip", RouteStatus.SKIPPED, reason="dynamic"),
    }
    return PrerenderManifest("b1", 1.5, "/docs", True, routes)


def test_the_hash_and_the_paths_are_pinned() -> None:
    # Build time and run time import the same function; pinning guards a silent change.
    assert route_shard("/", 1) == 0
    assert route_shard("/blog/hello", 1000) == route_shard("/blog/hello", 1000)
    assert [route_shard("/blog/hello", n) for n in (2, 7, 781)] == [1, 2, 184]
    assert shard_file(17) == "index/17.json" and pack_file(17, 3) == "packs/17/3.bin"
    assert HASH_ALGORITHM == "sha256-u64be-mod"


def test_shard_count_keeps_about_128_routes_a_shard() -> None:
    assert shard_count_for(0) == shard_count_for(7) == 1
    for routes in (1_000, 15_000, 20_000, 100_000, 1_000_000):
        per_shard = routes / shard_count_for(routes)
        assert abs(per_shard - ROUTES_PER_SHARD) / ROUTES_PER_SHARD < 0.03


def test_route_shard_spreads_routes_evenly() -> None:
    routes = [f"/p/{i}" for i in range(20_000)]
    counts = [0] * 156
    for route in routes:
        counts[route_shard(route, 156)] += 1
    assert min(counts) > 64 and max(counts) < 200


def test_a_plan_round_trips_through_the_shard_schema() -> None:
    manifest = small_manifest()
    plan = plan_layout(manifest)
    layout = parse_build_layout(plan.layout.to_json())
    assert layout == plan.layout
    assert layout.build == BuildInfo("b1", 1.5, "/docs", True) and layout.routes == 5
    (shard_plan,) = plan.shards
    shard = parse_shard(shard_plan.to_json(layout), "index/0.json", layout=layout, shard=0)
    assert set(shard.routes) == set(manifest.routes)
    for path, record in manifest.routes.items():
        got = shard.routes[path]
        assert (got.status, got.revalidate, got.expire, got.http_status) == (
            record.status,
            record.revalidate,
            record.expire,
            record.http_status,
        )
        assert set(got.variants) == set(record.variants)
        for variant, info in record.variants.items():
            where = got.variants[variant]
            assert where.bytes == info.bytes and dict(where.headers) == dict(info.headers)
            assert where.file.startswith("packs/0/") and where.file_bytes is not None
    # Two routes a pack, both variants of a route in the same pack, back to back.
    packs = {r: shard.routes[r].variants[Variant.HTML].file for r in ("/", "/a", "/b", "/c")}
    assert len(set(packs.values())) == 2
    a = shard.routes["/a"].variants
    assert a[Variant.HTML].file == a[Variant.DATA].file
    assert a[Variant.DATA].offset == a[Variant.HTML].offset + a[Variant.HTML].bytes
    assert plan.file_count == 1 + 1 + 2


def test_the_plan_is_deterministic_and_lists_each_body_once() -> None:
    manifest = synthetic_manifest(SiteSpec(2_000))
    one, two = plan_layout(manifest), plan_layout(manifest)
    assert [s.to_json(one.layout) for s in one.shards] == [
        s.to_json(two.layout) for s in two.shards
    ]
    parts = [(p.route, p.variant) for s in one.shards for pack in s.packs for p in pack.parts]
    assert len(parts) == len(set(parts)) == sum(len(r.variants) for r in manifest.routes.values())
    for shard in one.shards:
        for pack in shard.packs:
            assert sum(p.source.bytes for p in pack.parts) == pack.size
            offsets = [p.offset for p in pack.parts]
            assert offsets == sorted(offsets) and offsets[0] == 0


def test_the_shard_json_is_compact() -> None:
    manifest = synthetic_manifest(SiteSpec(10_000))
    plan = plan_layout(manifest)
    sizes = [len(s.to_json(plan.layout)) for s in plan.shards]
    # ~130 bytes a route: a shard of ~128 routes is ~16 KB, a cheap fetch and parse.
    assert max(sizes) < 32 * 1024
    assert sum(sizes) / len(manifest.routes) < 160


# --- errors name the file, the field and the fix ------------------------------------


def build_doc() -> dict[str, Any]:
    return plan_layout(small_manifest()).layout.to_dict()


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda d: d.update(schema="x"), "schema", "not a file of the sharded"),
        (lambda d: d.update(version=LAYOUT_VERSION + 1), "version", "copy_prerender.py"),
        (lambda d: d.pop("buildId"), "buildId", "non-empty string"),
        (lambda d: d.update(builtAt="now"), "builtAt", "expected a number"),
        (lambda d: d.update(basePath="docs/"), "basePath", "must be ''"),
        (lambda d: d.update(trailingSlash="yes"), "trailingSlash", "true or false"),
        (lambda d: d.update(hash="md5"), "hash", "hashes with"),
        (lambda d: d.update(shards=0), "shards", ">= 1"),
        (lambda d: d.update(packs=-1), "packs", ">= 0"),
        (lambda d: d.update(routes=True), "routes", "whole number"),
    ],
)
def test_build_json_errors_name_the_field(change, field: str, words: str) -> None:
    doc = build_doc()
    change(doc)
    with pytest.raises(ManifestError) as exc:
        parse_build_layout(json.dumps(doc), "/__prerender/" + BUILD_FILE)
    assert exc.value.field_name == field
    assert str(exc.value).startswith(f"/__prerender/{BUILD_FILE}: {field}: ")
    assert words in str(exc.value)


def shard_doc() -> tuple[BuildLayout, dict[str, Any]]:
    plan = plan_layout(small_manifest())
    return plan.layout, plan.shards[0].to_dict(plan.layout)


def first_rendered(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["routes"]["/a"]


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda d: d.update(buildId="other"), "buildId", "mixes two builds"),
        (lambda d: d.update(shard=3), "shard", "expected 0"),
        (lambda d: d.update(shards=2), "shards", "build.json says 1"),
        (lambda d: d.update(packs={}), "packs", "expected a list"),
        (lambda d: d["packs"].__setitem__(0, 26 * 1024 * 1024), "packs[0]", "25 MiB"),
        (lambda d: d.update(headers=[{"content-type": 1}]), "headers[0].content-type", "strings"),
        (lambda d: d["routes"].update({"/x/": {}}), "routes['/x/']", "must not end"),
        (
            lambda d: d["routes"].update({"/elsewhere": {"status": "skipped"}}),
            "routes['/elsewhere']",
            "hashes to shard",
        ),
        (lambda d: first_rendered(d).update(status="done"), "routes['/a'].status", "rendered"),
        (lambda d: first_rendered(d).update(revalidate=0), "routes['/a'].revalidate", "positive"),
        (lambda d: first_rendered(d).update(httpStatus=99), "routes['/a'].httpStatus", "99"),
        (
            lambda d: first_rendered(d)["variants"].update(pdf=[0, 0, 1, 0]),
            "routes['/a'].variants",
            "unknown variant",
        ),
        (
            lambda d: first_rendered(d)["variants"].update(html=[0, 0, 1]),
            "routes['/a'].variants.html",
            "[pack, offset, bytes, headers]",
        ),
        (
            lambda d: first_rendered(d)["variants"]["html"].__setitem__(0, 9),
            "routes['/a'].variants.html[0] (pack)",
            "the shard has 2",
        ),
        (
            lambda d: first_rendered(d)["variants"]["html"].__setitem__(2, 10**6),
            "routes['/a'].variants.html",
            "past the end of pack",
        ),
        (
            lambda d: first_rendered(d)["variants"]["html"].__setitem__(3, 5),
            "routes['/a'].variants.html[3] (headers)",
            "header sets",
        ),
        (lambda d: first_rendered(d).pop("variants"), "routes['/a'].variants", "empty"),
    ],
)
def test_shard_errors_name_the_field(change, field: str, words: str) -> None:
    layout, doc = shard_doc()
    # "/elsewhere" must not hash to shard 0 of a 1-shard layout: use a 2-shard copy.
    if field == "routes['/elsewhere']":
        layout = BuildLayout(layout.build, 2, layout.packs, layout.routes)
        doc["shards"] = 2
        doc["routes"] = {}
        shard = 1 - route_shard("/elsewhere", 2)
        doc["shard"] = shard
    else:
        shard = 0
    change(doc)
    with pytest.raises(ManifestError) as exc:
        parse_shard(json.dumps(doc), "index/0.json", layout=layout, shard=shard)
    assert exc.value.field_name == field, str(exc.value)
    assert words in str(exc.value)
    assert str(exc.value).startswith("index/0.json: ")


def test_a_shard_error_says_how_to_fix_it() -> None:
    layout, doc = shard_doc()
    doc["version"] = 2
    with pytest.raises(ManifestError, match=r"re-run scripts/copy_prerender.py .* redeploy"):
        parse_shard(json.dumps(doc), "index/0.json", layout=layout, shard=0)


def test_a_huge_page_gets_a_pack_of_its_own() -> None:
    manifest = small_manifest()
    plan = plan_layout(manifest, max_pack_bytes=450)
    assert plan.largest_pack <= 450
    layout = plan.layout
    shard = parse_shard(plan.shards[0].to_json(layout), "s", layout=layout, shard=0)
    # "/b" (330 bytes) has a pack with room for one more route, but not for "/c"
    # (440 bytes): "/c" starts a pack of its own, both variants together.
    c, b = shard.routes["/c"].variants, shard.routes["/b"].variants
    assert c[Variant.HTML].file == c[Variant.DATA].file != b[Variant.HTML].file
    assert c[Variant.HTML].file_bytes == 440

"""The build's manifest schema (read through the one validator): round trip, and errors
that name the field and the fix."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from seeding.build.manifest import (
    MANIFEST_VERSION,
    BuiltRoute,
    BuiltVariant,
    PrerenderManifest,
    new_build_id,
    parse_manifest,
    variant_file,
)
from seeding.routes import Variant
from seeding.schema import RouteRecord, RouteStatus, SchemaError


def sample() -> PrerenderManifest:
    html = BuiltVariant(variant_file("/a", Variant.HTML), 10, {"content-type": "text/html"})
    return PrerenderManifest(
        build_id="b1",
        built_at=1.5,
        base_path="/docs",
        trailing_slash=True,
        data_variant=True,
        routes={
            "/a": BuiltRoute(
                "/a",
                "/[x]",
                RouteStatus.RENDERED,
                revalidate=60,
                expire=120,
                tags=("post:a", "posts"),
                variants={Variant.HTML: html},
            ),
            "/b": RouteRecord("/b", "/b", RouteStatus.SKIPPED, reason="dynamic"),
            "/c": RouteRecord("/c", "/c", RouteStatus.ERROR, reason="ValueError: boom"),
        },
    )


def raw() -> dict[str, Any]:
    return json.loads(sample().to_json())


def test_manifest_round_trips_through_json() -> None:
    assert parse_manifest(sample().to_json()) == sample()


def test_body_files_are_named_from_the_route_alone() -> None:
    a = variant_file("/blog/a", Variant.HTML)
    assert a == variant_file("/blog/a", Variant.HTML)
    assert a.startswith("routes/") and a.endswith(".html")
    assert variant_file("/blog/a", Variant.DATA).endswith(".json")
    assert variant_file("/Blog/a", Variant.HTML) != a  # case-distinct routes never share
    assert ".." not in variant_file("/../../etc", Variant.HTML)


def test_build_ids_are_unique() -> None:
    assert len({new_build_id(0.0) for _ in range(100)}) == 100


def broken(mutate) -> dict[str, Any]:
    doc = copy.deepcopy(raw())
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(version=MANIFEST_VERSION + 1), "version"),
        (lambda d: d.update(schema="other"), "schema"),
        (lambda d: d.pop("buildId"), "buildId"),
        (lambda d: d.update(basePath="docs/"), "basePath"),
        (lambda d: d.update(trailingSlash="yes"), "trailingSlash"),
        (lambda d: d.update(routes=[]), "routes"),
        (lambda d: d["routes"]["/a"].update(status="done"), "routes['/a'].status"),
        (lambda d: d["routes"]["/a"].update(revalidate=-1), "routes['/a'].revalidate"),
        (lambda d: d["routes"]["/a"].update(revalidate=True), "routes['/a'].revalidate"),
        (lambda d: d["routes"]["/a"].update(expire=30), "routes['/a'].expire"),
        (lambda d: d["routes"]["/a"].update(httpStatus="200"), "routes['/a'].httpStatus"),
        (
            lambda d: d["routes"]["/a"]["variants"]["html"].update(file="../../etc/passwd"),
            "routes['/a'].variants.html.file",
        ),
        (
            lambda d: d["routes"]["/a"]["variants"]["html"].update(bytes=-3),
            "routes['/a'].variants.html.bytes",
        ),
        (
            lambda d: d["routes"]["/a"]["variants"]["html"].update(bytes=26 * 1024 * 1024),
            "routes['/a'].variants.html.bytes",
        ),
        (
            lambda d: d["routes"]["/a"]["variants"]["html"]["headers"].update(x=1),
            "routes['/a'].variants.html.headers.x",
        ),
        (lambda d: d["routes"]["/a"].update(variants={}), "routes['/a'].variants"),
        (lambda d: d["routes"]["/a"]["variants"].update(rsc={}), "routes['/a'].variants"),
        (lambda d: d["routes"].update({"../x": d["routes"]["/b"]}), "routes['../x']"),
        (lambda d: d["routes"].update({"/x.json": d["routes"]["/b"]}), "routes['/x.json']"),
        (lambda d: d["routes"]["/a"].update(tags="posts"), "routes['/a'].tags"),
        (lambda d: d["routes"]["/a"].update(tags=["x" * 257]), "routes['/a'].tags[0]"),
        (lambda d: d["routes"]["/a"].update(tags=["t"] * 129), "routes['/a'].tags"),
        (lambda d: d.update(dataVariant=1), "dataVariant"),
    ],
)
def test_invalid_manifests_are_rejected_naming_the_field(mutate, field: str) -> None:
    with pytest.raises(SchemaError) as info:
        parse_manifest(json.dumps(broken(mutate)), "build/meta/manifest.json")
    assert info.value.field_name == field
    assert str(info.value).startswith("build/meta/manifest.json: " + field)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", b"\xff\xfe"])
def test_documents_that_are_not_manifests_are_rejected(text) -> None:
    with pytest.raises(SchemaError):
        parse_manifest(text)

"""Planning the Worker's layout from a manifest: buckets, parts, file counts, identity."""

from __future__ import annotations

import pytest

from seeding.build.manifest import BuiltRoute, BuiltVariant, PrerenderManifest, variant_file
from seeding.build.plan import ROUTES_PER_BUCKET, plan_packs
from seeding.routes import Variant
from seeding.schema import MAX_ASSET_BYTES, RouteStatus
from seeding.seed.membership import FALSE_POSITIVE_RATE
from seeding.seed.packs import RouteDigest

FREE_PLAN_FILES, PAID_PLAN_FILES = 20_000, 100_000


def manifest(
    routes: int, html: int = 5000, data: int = 1000, skipped: int = 0
) -> PrerenderManifest:
    """A manifest of `routes` rendered routes (both variants) and `skipped` others;
    planning reads no body, so no file needs to exist."""
    records: dict[str, BuiltRoute] = {}
    for n in range(routes):
        path = f"/p/{n}"
        variants = {
            Variant.HTML: BuiltVariant(variant_file(path, Variant.HTML), html, {"x": "h"}),
            Variant.DATA: BuiltVariant(variant_file(path, Variant.DATA), data, {"x": "d"}),
        }
        records[path] = BuiltRoute(path, path, RouteStatus.RENDERED, variants=variants)
    for n in range(skipped):
        records[f"/s/{n}"] = BuiltRoute(f"/s/{n}", f"/s/{n}", RouteStatus.SKIPPED, reason="x")
    return PrerenderManifest("b1", 1.0, data_variant=True, routes=records)


def test_every_seedable_route_is_in_the_bucket_its_key_hashes_to() -> None:
    plan = plan_packs(manifest(500, skipped=20))
    assert plan.buckets == 500 // ROUTES_PER_BUCKET
    placed = {record.path: bucket.bucket for bucket in plan.plans for record in bucket.routes}
    assert set(placed) == {f"/p/{n}" for n in range(500)}  # skipped routes ship nothing
    for route, bucket in placed.items():
        assert RouteDigest.of(route).bucket(plan.buckets) == bucket


def test_the_plan_is_deterministic_and_places_each_body_once() -> None:
    first, second = plan_packs(manifest(300)), plan_packs(manifest(300))
    assert first.files() == second.files()
    assert first.build_module() == second.build_module()
    bodies = [(p.route, p.variant) for b in first.plans for part in b.parts for p in part]
    assert len(bodies) == len(set(bodies)) == 600


@pytest.mark.parametrize(
    ("routes", "limit"), [(15_000, FREE_PLAN_FILES), (100_000, PAID_PLAN_FILES)]
)
def test_the_files_fit_the_plans_limits(routes: int, limit: int) -> None:
    plan = plan_packs(manifest(routes))
    assert plan.file_count <= limit
    assert plan.file_count <= routes // ROUTES_PER_BUCKET  # empty buckets ship nothing
    assert plan.largest_part <= MAX_ASSET_BYTES


def test_a_bucket_too_big_for_one_pack_is_split_into_parts() -> None:
    plan = plan_packs(manifest(40, html=60_000, data=10_000), max_pack_bytes=1024 * 1024 + 100_000)
    split = [bucket for bucket in plan.plans if len(bucket.parts) > 1]
    assert split, "some bucket of ~2 routes of 70 KB must overflow 100 KB of room"
    assert plan.largest_part <= 100_000
    assert plan.file_count == sum(len(bucket.parts) for bucket in plan.plans)


def test_the_identity_records_the_site_the_buckets_and_the_filter() -> None:
    plan = plan_packs(manifest(1000))
    identity = plan.identity()
    assert identity["buildId"] == "b1" and identity["dataVariant"] is True
    assert identity["buckets"] == plan.buckets and identity["routes"] == 1000
    assert identity["filter"] == {"bits": plan.filter.bits, "hashes": plan.filter.hashes}
    assert plan.filter.bits / 1000 < 12  # about 11 bits a route at the default rate
    assert FALSE_POSITIVE_RATE <= 0.01

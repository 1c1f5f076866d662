"""Malformed build outputs served to the Worker through the fake asset store.

Whatever a pack holds (wrong types, missing fields, duplicate keys, non-UTF-8 bytes,
numbers JSON does not have, data cut short or grown, the file missing), each fault is
logged as ONE error per isolate however many requests meet it, every known page is
still answered 200 by the renderer, and nothing raises into a request. The manifest,
read by the copy step, refuses any mutation with a `SchemaError` and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seeding.build.manifest import MANIFEST_FILE, parse_manifest
from seeding.schema import SchemaError
from seeding.seed.packs import MAX_PREAMBLE, RouteDigest, encode_preamble, parse_pack
from tests.unit.support import Deploy, Isolate, deploy_once, pack_path

KNOWN_PAGES = ["/about", "/", "/blog/first", "/blog/first.json", "/blog/late", "/index.json"]
# The pack of "/" also holds "/blog/first" in this build: one fault reaches both.
FAULTED = "/about"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Deploy:
    return deploy_once(tmp_path_factory.mktemp("pristine"))


def fresh(pristine: Deploy, tmp_path: Path) -> Deploy:
    public = tmp_path / "public"
    shutil.copytree(pristine.public, public)
    return Deploy(public, pristine.worker_dir, pristine.result)


def errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def serve_known_pages(isolate: Isolate, rounds: int = 3) -> None:
    """Several rounds over the known pages, time passing, the cache emptied between
    rounds (as eviction would), a burst of concurrent requests in each round."""
    for _ in range(rounds):
        for path in KNOWN_PAGES:
            response = await isolate.request(path)
            assert response.status == 200, (path, response.status, response.body[:200])
        burst = await asyncio.gather(*(isolate.request(p) for p in KNOWN_PAGES * 3))
        assert {r.status for r in burst} == {200}
        isolate.clock.advance(30)
        isolate.handler.cache.clear()


def split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    newline = raw.index(b"\n")
    end = newline + 1 + int(raw[:newline].split(b" ")[2])
    return json.loads(raw[newline + 1 : end]), raw[end:]


def header_edited(mutate: Callable[[dict[str, Any]], Any]) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        header, data = split(raw)
        mutate(header)
        text = json.dumps(header).encode()
        return encode_preamble(text) + text + data

    return apply


def header_text(render: Callable[[dict[str, Any]], bytes]) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        header, data = split(raw)
        text = render(header)
        return encode_preamble(text) + text + data

    return apply


def first_route(header: dict[str, Any]) -> dict[str, Any]:
    """The record of the faulted route (a bad record spoils only its own route)."""
    return header["routes"][FAULTED]


# A fault in the faulted route's own record spoils that route only: the pack still seeds
# its other routes (and is fetched again for them), the record's error is logged once.
RECORD_FAULTS: list[tuple[str, Callable[[bytes], bytes]]] = [
    (
        "a variant out of range",
        header_edited(lambda h: first_route(h)["variants"]["html"].__setitem__(2, 10**9)),
    ),
    ("status is unknown", header_edited(lambda h: first_route(h).update(httpStatus=99))),
    ("revalidate is negative", header_edited(lambda h: first_route(h).update(revalidate=-1))),
    ("tags is a string", header_edited(lambda h: first_route(h).update(tags="posts"))),
]
# A fault in the pack's frame spoils the whole pack: fetched once, one error.
PACK_FAULTS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("routes is a list", header_edited(lambda h: h.update(routes=[]))),
    ("dataBytes is a string", header_edited(lambda h: h.update(dataBytes="10"))),
    ("headers hold a number", header_edited(lambda h: h["headers"][0].update(x=1))),
    ("buildId of another build", header_edited(lambda h: h.update(buildId="other"))),
    ("a duplicate key", header_text(lambda h: json.dumps(h).encode()[:-1] + b', "bucket": 0}')),
    ("NaN", header_text(lambda h: json.dumps(h).replace('"part": 0', '"part": NaN').encode())),
    ("not UTF-8", header_text(lambda h: json.dumps(h).encode().replace(b"/", b"\xff/", 1))),
    ("a JSON list", header_text(lambda h: b"[]")),
    ("data cut short", lambda raw: raw[:-3]),
    ("data grown", lambda raw: raw + b"more"),
    ("a bad preamble", lambda raw: b"LSPACK one two\n" + raw),
    ("empty", lambda raw: b""),
]


async def serve_with_faulted_pack(
    pristine: Deploy, tmp_path: Path, caplog, fault: Callable[[bytes], bytes]
) -> tuple[Deploy, Isolate, Path]:
    """A fresh deploy whose pack of FAULTED is rewritten by `fault`, its known pages
    served by one isolate; exactly one error logged."""
    deploy = fresh(pristine, tmp_path)
    path = deploy.public / pack_path(deploy.identity(), FAULTED).lstrip("/")
    path.write_bytes(fault(path.read_bytes()))
    isolate = Isolate(deploy)
    with caplog.at_level(logging.WARNING, logger="seeding"):
        await serve_known_pages(isolate)
    assert len(errors(caplog)) == 1, [r.getMessage() for r in errors(caplog)]
    return deploy, isolate, path


@pytest.mark.parametrize(("name", "fault"), PACK_FAULTS, ids=[n for n, _ in PACK_FAULTS])
async def test_a_broken_pack_is_one_error_and_its_pages_render(
    pristine: Deploy, tmp_path: Path, caplog, name: str, fault: Callable[[bytes], bytes]
) -> None:
    deploy, isolate, path = await serve_with_faulted_pack(pristine, tmp_path, caplog, fault)
    assert isolate.assets.log.count("/" + str(path.relative_to(deploy.public))) == 1
    assert any(route == FAULTED for route, _, _ in isolate.site.renders)


@pytest.mark.parametrize(("name", "fault"), RECORD_FAULTS, ids=[n for n, _ in RECORD_FAULTS])
async def test_a_broken_record_is_one_error_and_only_its_route_renders(
    pristine: Deploy, tmp_path: Path, caplog, name: str, fault: Callable[[bytes], bytes]
) -> None:
    deploy, isolate, _ = await serve_with_faulted_pack(pristine, tmp_path, caplog, fault)
    assert f"routes['{FAULTED}']" in errors(caplog)[0].getMessage()
    rendered = {route for route, _, _ in isolate.site.renders}
    assert FAULTED in rendered
    bucket = RouteDigest.of(FAULTED).bucket(deploy.identity().buckets)
    neighbours = {
        record.path
        for plan in deploy.result.plan.plans
        if plan.bucket == bucket
        for record in plan.routes
    } - {FAULTED}
    assert neighbours, "the faulted pack holds other routes too"
    other = Isolate(deploy)
    for neighbour in sorted(neighbours):  # still seeded from the same pack
        response = await other.request(neighbour)
        assert response.headers["x-cache-status"] == "HIT" and b"build at" in response.body


async def test_a_missing_pack_is_one_error_and_its_pages_render(
    pristine: Deploy, tmp_path: Path, caplog
) -> None:
    deploy = fresh(pristine, tmp_path)
    (deploy.public / pack_path(deploy.identity(), FAULTED).lstrip("/")).unlink()
    isolate = Isolate(deploy)
    with caplog.at_level(logging.WARNING, logger="seeding"):
        await serve_known_pages(isolate)
    assert len(errors(caplog)) == 1
    assert "HTTP 404" in errors(caplog)[0].getMessage()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def _mutate_somewhere(doc: Any, data) -> None:
    node = doc
    while True:
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.integers(0, 4)) == 0:
            node[data.draw(st.text(max_size=10))] = node.pop(key)  # rename a key
        else:
            node[key] = data.draw(json_values)
        return


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_mutation_of_a_pack_is_parsed_or_refused_with_a_schema_error(
    pristine: Deploy, data
) -> None:
    identity = pristine.identity()
    path = pristine.public / pack_path(identity, FAULTED).lstrip("/")
    header, body = split(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate_somewhere(header, data)
    text = json.dumps(header, ensure_ascii=data.draw(st.booleans())).encode()
    bucket = int(path.stem)
    with contextlib.suppress(SchemaError):
        pack = parse_pack(
            encode_preamble(text) + text + body, "p", build_id=identity.build_id, bucket=bucket
        )
        for path in pack.paths:
            record = pack.route(path)
            for located in record.variants.values() if record is not None else ():
                if located.part == 0:
                    assert len(pack.body(located)) == located.bytes


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_mutation_of_the_manifest_is_parsed_or_refused_with_a_schema_error(
    pristine: Deploy, data
) -> None:
    build = pristine.result.manifest
    doc = json.loads(json.dumps(build.to_dict()))
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate_somewhere(doc, data)
    text = json.dumps(doc, ensure_ascii=data.draw(st.booleans()))
    with contextlib.suppress(SchemaError):
        parse_manifest(text, MANIFEST_FILE)


def test_the_preamble_is_short() -> None:
    assert len(encode_preamble(b"x" * 25 * 1024 * 1024)) < MAX_PREAMBLE

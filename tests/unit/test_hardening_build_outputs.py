"""Malformed build outputs served to the Worker through the fake asset store.

Whatever the prerender root holds (wrong types, missing fields, duplicate keys,
non-UTF-8 bytes, numbers JSON does not have, files of the wrong size, files missing),
each fault is logged as ONE error per isolate however many requests meet it, every
known page is still answered 200 by the renderer, and nothing raises into a request.
Both layouts the Worker reads are covered: the manifest and the sharded one.
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

from seeding.layout import BUILD_FILE, parse_build_layout, shard_file
from seeding.manifest import ManifestError, parse_manifest
from seeding.routes import MANIFEST_FILE, Variant, variant_file
from tests.unit.hardening_support import Isolate, allowed_fetches, build_once, copy_once

KNOWN_PAGES = ["/about", "/", "/blog/first", "/blog/first.json", "/blog/late", "/index.json"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pristine")
    build = build_once(root / "build")
    return {"manifest": build, "sharded": copy_once(build, root / "public", "sharded")}


def fresh_root(pristine: dict[str, Path], layout: str, tmp_path: Path) -> Path:
    root = tmp_path / layout
    shutil.copytree(pristine[layout], root)
    return root


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


# -- the manifest ----------------------------------------------------------------------


def edited(mutate: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """A fault that edits the parsed document in place and writes it back."""

    def apply(path: Path) -> None:
        doc = json.loads(path.read_text(encoding="utf-8"))
        mutate(doc)
        path.write_text(json.dumps(doc), encoding="utf-8")

    return apply


def rewritten(render: Callable[[dict[str, Any]], str | bytes]) -> Callable[[Path], None]:
    """A fault that writes new text or bytes made from the parsed document."""

    def apply(path: Path) -> None:
        out = render(json.loads(path.read_text(encoding="utf-8")))
        path.write_bytes(out.encode("utf-8") if isinstance(out, str) else out)

    return apply


def with_pairs(doc: dict[str, Any], where: str, extra: tuple[str, Any]) -> str:
    """`doc` as JSON text with one more key in the object `where` ("" for the
    document): a duplicate key, which `json.loads` would silently resolve."""

    def dump(obj: Any, path: str) -> str:
        if not isinstance(obj, dict):
            return json.dumps(obj)
        items = [f"{json.dumps(k)}: {dump(v, f'{path}/{k}')}" for k, v in obj.items()]
        if path == where:
            items.append(f"{json.dumps(extra[0])}: {json.dumps(extra[1])}")
        return "{" + ", ".join(items) + "}"

    return dump(doc, "")


def set_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


MANIFEST_FAULTS: list[tuple[str, Callable[[Path], None], str]] = [
    ("routes is a list", edited(lambda d: d.update(routes=[])), "routes"),
    ("builtAt is a string", edited(lambda d: d.update(builtAt="yesterday")), "builtAt"),
    (
        "bytes is a string",
        edited(lambda d: d["routes"]["/about"]["variants"]["html"].update(bytes="12")),
        "routes['/about'].variants.html.bytes",
    ),
    (
        "a header value is a number",
        edited(lambda d: d["routes"]["/about"]["variants"]["html"]["headers"].update(x=1)),
        "routes['/about'].variants.html.headers.x",
    ),
    (
        "revalidate is fractional",
        edited(lambda d: d["routes"]["/blog"].update(revalidate=1.5)),
        "routes['/blog'].revalidate",
    ),
    ("buildId is missing", edited(lambda d: d.pop("buildId")), "buildId"),
    ("routes is missing", edited(lambda d: d.pop("routes")), "routes"),
    ("schema is missing", edited(lambda d: d.pop("schema")), "schema"),
    (
        "a variant's file is missing",
        edited(lambda d: d["routes"]["/about"]["variants"]["html"].pop("file")),
        "routes['/about'].variants.html.file",
    ),
    (
        "a route is listed twice",
        rewritten(lambda d: with_pairs(d, "/routes", ("/about", d["routes"]["/now"]))),
        "routes['/about']",
    ),
    (
        "a variant is listed twice",
        rewritten(
            lambda d: with_pairs(
                d, "/routes//about/variants", ("html", d["routes"]["/blog"]["variants"]["html"])
            )
        ),
        "routes['/about'].variants.html",
    ),
    (
        "a top-level field is given twice",
        rewritten(lambda d: with_pairs(d, "", ("buildId", "another-build"))),
        "buildId",
    ),
    (
        "builtAt is NaN",
        rewritten(lambda d: json.dumps(d).replace('"builtAt": ', '"builtAt": NaN, "x": ')),
        "(document)",
    ),
    (
        "builtAt overflows a float",
        edited(lambda d: d.update(builtAt=10**400)),
        "builtAt",
    ),
    (
        "builtAt is infinite",
        rewritten(lambda d: json.dumps(d).replace('"builtAt": ', '"builtAt": 1e400, "x": ')),
        "builtAt",
    ),
    (
        "a route key is a lone surrogate",
        rewritten(lambda d: json.dumps(d).replace('"/about":', '"/\\ud800":')),
        "routes['/\\ud800']",
    ),
    (
        "a byte that is not UTF-8",
        rewritten(
            lambda d: json.dumps(d).encode().replace(b'"reason": ""', b'"reason": "\xff"', 1)
        ),
        "(document)",
    ),
    (
        "encoded as UTF-16",
        rewritten(lambda d: json.dumps(d).encode("utf-16")),
        "(document)",
    ),
    (
        "encoded as UTF-8 with a byte-order mark",
        rewritten(lambda d: b"\xef\xbb\xbf" + json.dumps(d).encode()),
        "(document)",
    ),
    ("truncated", lambda p: set_bytes(p, p.read_bytes()[:-40]), "(document)"),
    ("empty", lambda p: set_bytes(p, b""), "(document)"),
    (
        "a file over the 25 MiB asset limit",
        edited(lambda d: d["routes"]["/about"]["variants"]["html"].update(bytes=26 * 1024 * 1024)),
        "routes['/about'].variants.html.bytes",
    ),
]


@pytest.mark.parametrize(
    ("fault", "field"),
    [pytest.param(f, field, id=name) for name, f, field in MANIFEST_FAULTS],
)
def test_a_malformed_manifest_is_refused_naming_the_field(
    pristine: dict[str, Path], fault: Callable[[Path], None], field: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    shutil.copyfile(pristine["manifest"] / MANIFEST_FILE, manifest)
    fault(manifest)
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest.read_bytes(), "m.json")
    assert info.value.field_name == field, str(info.value)
    assert str(info.value).startswith(f"m.json: {field}: ")


@pytest.mark.parametrize(
    ("fault", "field"),
    [pytest.param(f, field, id=name) for name, f, field in MANIFEST_FAULTS],
)
async def test_the_worker_serves_through_a_malformed_manifest(
    pristine: dict[str, Path],
    tmp_path: Path,
    caplog,
    fault: Callable[[Path], None],
    field: str,
) -> None:
    root = fresh_root(pristine, "manifest", tmp_path)
    fault(root / MANIFEST_FILE)
    isolate = Isolate(root)
    with caplog.at_level(logging.INFO, logger="seeding"):
        await serve_known_pages(isolate)
    (record,) = errors(caplog)
    assert "manifest rejected" in record.getMessage() and field in record.getMessage()
    assert isolate.assets.log == ["/__prerender/" + MANIFEST_FILE]  # fetched once, nothing else
    assert isolate.site.render_count("/about") >= 1


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_mutation_of_the_manifest_is_parsed_or_refused_with_a_manifest_error(
    pristine: dict[str, Path], data
) -> None:
    """Replace any one value anywhere in a real manifest with any JSON value:
    `parse_manifest` returns or raises `ManifestError`, nothing else."""
    doc = json.loads((pristine["manifest"] / MANIFEST_FILE).read_text())
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**400), max_value=10**400)
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=6,
    )
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate_somewhere(doc, data, json_values)
    text = json.dumps(doc, ensure_ascii=data.draw(st.booleans()))
    with contextlib.suppress(ManifestError):
        parse_manifest(text)


def _mutate_somewhere(doc: Any, data, values) -> None:
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
            node[key] = data.draw(values)
        return


# -- files the manifest lists ----------------------------------------------------------


def grow(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"<!-- more -->")


def shrink(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-5])


def remove(path: Path) -> None:
    path.unlink()


FILE_FAULTS = {"bigger than listed": grow, "smaller than listed": shrink, "missing": remove}


@pytest.mark.parametrize("layout", ["manifest", "sharded"])
@pytest.mark.parametrize("fault", list(FILE_FAULTS), ids=list(FILE_FAULTS))
async def test_a_body_file_of_the_wrong_size_or_missing_is_one_error_and_renders(
    pristine: dict[str, Path], tmp_path: Path, caplog, layout: str, fault: str
) -> None:
    root = fresh_root(pristine, layout, tmp_path)
    allowed = allowed_fetches(root)
    # The manifest layout: /about's HTML file; the sharded one: the pack of /about.
    (file,) = [a for a, routes in allowed.items() if "/about" in routes and not a.endswith(".json")]
    assert layout == "sharded" or file.endswith(variant_file("/about", Variant.HTML))
    # A route whose body is in another file is not affected.
    other = next(r for r in ["/blog/first", "/blog/second", "/", "/blog"] if r not in allowed[file])
    FILE_FAULTS[fault](root / file.removeprefix("/__prerender/"))
    isolate = Isolate(root, index=layout)
    with caplog.at_level(logging.INFO, logger="seeding"):
        await serve_known_pages(isolate)
    (record,) = errors(caplog)
    message = record.getMessage()
    assert file.removeprefix("/__prerender/") in message
    assert ("404" in message) if fault == "missing" else ("bytes" in message)
    assert isolate.assets.fetches(file) == 1
    about = await isolate.request("/about")
    assert about.status == 200 and b"request at" in about.body  # rendered
    isolate.handler.cache.clear()
    seeded = await isolate.request(other)
    assert seeded.headers["x-cache-status"] in ("HIT", "STALE") and b"build at" in seeded.body


# -- the sharded layout's index files --------------------------------------------------


def shard_of_about(root: Path) -> Path:
    from seeding.layout import route_shard

    layout = parse_build_layout((root / BUILD_FILE).read_bytes())
    return root / shard_file(route_shard("/about", layout.shards))


SHARDED_FAULTS: list[tuple[str, str, Callable[[Path], None], str]] = [
    (
        "build.json: shards is a string",
        BUILD_FILE,
        edited(lambda d: d.update(shards="1")),
        "shards",
    ),
    ("build.json: buildId missing", BUILD_FILE, edited(lambda d: d.pop("buildId")), "buildId"),
    (
        "build.json: builtAt overflows a float",
        BUILD_FILE,
        edited(lambda d: d.update(builtAt=10**400)),
        "builtAt",
    ),
    (
        "build.json: not UTF-8",
        BUILD_FILE,
        rewritten(lambda d: json.dumps(d).encode("utf-16")),
        "(document)",
    ),
    (
        "build.json: a field given twice",
        BUILD_FILE,
        rewritten(lambda d: with_pairs(d, "", ("shards", 7))),
        "shards",
    ),
    (
        "build.json: truncated",
        BUILD_FILE,
        lambda p: set_bytes(p, p.read_bytes()[:-3]),
        "(document)",
    ),
    ("shard: routes is a list", "shard", edited(lambda d: d.update(routes=[])), "routes"),
    (
        "shard: a route listed twice",
        "shard",
        rewritten(lambda d: with_pairs(d, "/routes", ("/about", {"status": "skipped"}))),
        "routes['/about']",
    ),
    ("shard: not UTF-8", "shard", lambda p: set_bytes(p, b"\xff" + p.read_bytes()), "(document)"),
    ("shard: missing", "shard", remove, "404"),
]


@pytest.mark.parametrize(
    ("file", "fault", "field"),
    [pytest.param(file, f, field, id=name) for name, file, f, field in SHARDED_FAULTS],
)
async def test_the_worker_serves_through_a_malformed_sharded_index(
    pristine: dict[str, Path],
    tmp_path: Path,
    caplog,
    file: str,
    fault: Callable[[Path], None],
    field: str,
) -> None:
    root = fresh_root(pristine, "sharded", tmp_path)
    target = shard_of_about(root) if file == "shard" else root / file
    fault(target)
    isolate = Isolate(root, index="sharded")
    with caplog.at_level(logging.INFO, logger="seeding"):
        await serve_known_pages(isolate)
    (record,) = errors(caplog)
    message = record.getMessage()
    assert field in message, message
    assert target.relative_to(root).as_posix() in message
    about = await isolate.request("/about")
    assert about.status == 200 and b"request at" in about.body

"""The KV page store: keys, the value format, TTLs, the write rate limit and every fault
a KV binding can show (errors, 429, timeouts, oversize and undecodable values)."""

from __future__ import annotations

import importlib
import json
import logging
import math
import sys
from pathlib import Path

import pytest

from seeding.primitives.cache import CacheEntry
from seeding.routes import MAX_ROUTE_LENGTH, Variant
from seeding.schema import MAX_CLOCK_SKEW_SECONDS, MAX_TAGS
from seeding.shared.kv_pages import (
    KV_MAX_KEY_BYTES,
    KV_MAX_TTL_SECONDS,
    KV_MAX_VALUE_BYTES,
    PageStore,
    code_identity,
    decode_entry,
    deploy_identity,
    encode_entry,
    page_key,
)
from tests.unit.fakes_shared import FakeKV

NOW = 1_800_000_000.0
BUILD = "20270115T120000Z-0a1b2c3d"


def page(**changes: object) -> CacheEntry:
    fields: dict[str, object] = {
        "body": b"<h1>Hello</h1>\x00\xff raw bytes",
        "status": 200,
        "headers": {"content-type": "text/html; charset=utf-8", "x-extra": "\u00e9t\u00e9"},
        "generated_at": NOW - 10.5,
        "revalidate": 60,
        "expire": 3600,
        "tags": ("posts", "post:hello"),
    }
    fields.update(changes)
    return CacheEntry(**fields)  # type: ignore[arg-type]


@pytest.fixture
def kv() -> FakeKV:
    return FakeKV()


@pytest.fixture
def store(kv: FakeKV) -> PageStore:
    return PageStore(kv, read_timeout=0.05, write_timeout=0.05)


async def test_a_written_page_reads_back_with_every_field(store: PageStore) -> None:
    entry = page()
    assert await store.write(BUILD, Variant.HTML, "/blog/hello", entry, NOW)
    read = await store.read(BUILD, Variant.HTML, "/blog/hello", NOW)
    assert read == entry
    assert read is not None and read.tags == ("posts", "post:hello") and read.etag == entry.etag
    assert (store.stats.reads, store.stats.hits, store.stats.writes) == (1, 1, 1)


async def test_an_unknown_route_reads_as_absent(store: PageStore) -> None:
    assert await store.read(BUILD, Variant.HTML, "/nowhere", NOW) is None
    assert (store.stats.reads, store.stats.hits, store.stats.read_errors) == (1, 0, 0)


async def test_another_build_and_the_other_variant_do_not_see_the_page(store: PageStore) -> None:
    await store.write(BUILD, Variant.HTML, "/blog/hello", page(), NOW)
    assert await store.read("another-build", Variant.HTML, "/blog/hello", NOW) is None
    assert await store.read(BUILD, Variant.DATA, "/blog/hello", NOW) is None


def test_keys_carry_the_format_version_the_build_variant_and_route() -> None:
    assert page_key(BUILD, Variant.HTML, "/blog/hello") == f"pages/v1/{BUILD}/html/blog/hello"
    assert page_key(BUILD, Variant.DATA, "/") == f"pages/v1/{BUILD}/data/"


def test_a_route_too_long_for_a_kv_key_is_keyed_by_its_hash() -> None:
    # 301 characters, but 601 bytes in UTF-8: KV counts bytes.
    long_a = "/" + "\u00e9" * 300
    long_b = long_a[:-1] + "x"
    key_a, key_b = (page_key(BUILD, Variant.HTML, r) for r in (long_a, long_b))
    assert key_a.startswith(f"pages/v1/{BUILD}/html#") and key_a != key_b
    longest = page_key(BUILD, Variant.DATA, "/" + "\u00e9" * (MAX_ROUTE_LENGTH - 1))
    assert all(len(k.encode()) <= KV_MAX_KEY_BYTES for k in (key_a, key_b, longest))
    # The longest route that still fits is spelled out.
    fits = "/" + "a" * (KV_MAX_KEY_BYTES - len(f"pages/v1/{BUILD}/html/"))
    assert page_key(BUILD, Variant.HTML, fits).endswith(fits)


def test_even_a_huge_build_id_gives_a_key_within_the_limit() -> None:
    key = page_key("b" * 600, Variant.HTML, "/a")
    assert len(key.encode()) <= KV_MAX_KEY_BYTES and key != page_key("b" * 601, Variant.HTML, "/a")


def test_the_value_is_a_versioned_header_then_the_raw_body() -> None:
    entry = page()
    value = encode_entry(entry)
    assert value.startswith(b"PAGE\x01") and value.endswith(entry.body)
    header_length = int.from_bytes(value[5:9], "big")
    header = json.loads(value[9 : 9 + header_length])
    assert header == {
        "status": 200,
        "headers": dict(entry.headers),
        "generatedAt": entry.generated_at,
        "revalidate": 60,
        "expire": 3600,
        "tags": ["posts", "post:hello"],
        "bodyLength": len(entry.body),
    }
    assert decode_entry(value, NOW) == entry


async def test_the_ttl_is_the_time_left_until_the_page_expires(
    store: PageStore, kv: FakeKV
) -> None:
    await store.write(BUILD, Variant.HTML, "/a", page(generated_at=NOW - 100, expire=3600), NOW)
    assert kv.ttls[page_key(BUILD, Variant.HTML, "/a")] == 3500


async def test_the_ttl_is_never_below_kvs_minimum_of_60_seconds(
    store: PageStore, kv: FakeKV
) -> None:
    await store.write(BUILD, Variant.HTML, "/a", page(generated_at=NOW - 3590, expire=3600), NOW)
    assert kv.ttls[page_key(BUILD, Variant.HTML, "/a")] == 60


@pytest.mark.parametrize("never", [{"expire": None}, {"revalidate": None}])
async def test_a_page_that_never_expires_leaves_kv_after_the_longest_ttl(
    store: PageStore, kv: FakeKV, never: dict[str, object]
) -> None:
    await store.write(BUILD, Variant.HTML, "/a", page(**never), NOW)
    assert kv.ttls[page_key(BUILD, Variant.HTML, "/a")] == KV_MAX_TTL_SECONDS


async def test_no_ttl_is_longer_than_the_longest(store: PageStore, kv: FakeKV) -> None:
    await store.write(BUILD, Variant.HTML, "/a", page(expire=10 * KV_MAX_TTL_SECONDS), NOW)
    assert kv.ttls[page_key(BUILD, Variant.HTML, "/a")] == KV_MAX_TTL_SECONDS


def test_the_deploy_identity_names_the_build_and_the_worker_version() -> None:
    assert deploy_identity(BUILD, "0a1b-2c") == f"{BUILD}@0a1b-2c"
    assert deploy_identity(None, "0a1b-2c") == "-@0a1b-2c"
    assert deploy_identity(None, "v1") != deploy_identity(None, "v2")
    assert deploy_identity(BUILD, "v1") != deploy_identity(BUILD, "v2")


@pytest.mark.parametrize("version", ["a/b", "x" * 65, "", "caf\u00e9", "a b"])
def test_a_version_id_that_could_break_a_key_is_replaced_by_its_hash(version: str) -> None:
    identity = deploy_identity(BUILD, version)
    assert "/" not in identity and " " not in identity and identity.isascii()
    assert len(identity) <= len(BUILD) + 1 + 64


async def test_an_already_expired_page_is_not_written(store: PageStore, kv: FakeKV) -> None:
    assert not await store.write(BUILD, Variant.HTML, "/a", page(generated_at=NOW - 3600), NOW)
    assert kv.puts == [] and store.stats.dropped == 1


async def test_a_second_write_to_a_key_within_a_second_is_dropped(
    store: PageStore, kv: FakeKV
) -> None:
    first, second = page(body=b"first"), page(body=b"second")
    assert await store.write(BUILD, Variant.HTML, "/a", first, NOW)
    assert not await store.write(BUILD, Variant.HTML, "/a", second, NOW + 0.9)
    assert await store.read(BUILD, Variant.HTML, "/a", NOW + 1) == first
    assert len(kv.puts) == 1 and store.stats.dropped == 1
    # Other keys are not held back, and the key itself is free again after a second.
    assert await store.write(BUILD, Variant.DATA, "/a", second, NOW + 0.9)
    assert await store.write(BUILD, Variant.HTML, "/a", second, NOW + 1.0)
    assert await store.read(BUILD, Variant.HTML, "/a", NOW + 1) == second


async def test_a_value_over_25_mib_is_not_written_and_is_logged(
    store: PageStore, kv: FakeKV, caplog: pytest.LogCaptureFixture
) -> None:
    huge = page(body=b"x" * KV_MAX_VALUE_BYTES)
    with caplog.at_level(logging.WARNING, logger="seeding"):
        assert not await store.write(BUILD, Variant.HTML, "/huge", huge, NOW)
    assert kv.puts == [] and store.stats.dropped == 1
    assert "value limit" in caplog.text and "/huge" in caplog.text
    # Not a slot taken: a page that fits is written at once.
    assert await store.write(BUILD, Variant.HTML, "/huge", page(), NOW)


async def test_a_429_from_kv_drops_the_write_logs_it_and_never_raises(
    store: PageStore, kv: FakeKV, caplog: pytest.LogCaptureFixture
) -> None:
    kv.put_error = RuntimeError("KV PUT failed: 429 Too Many Requests")
    with caplog.at_level(logging.WARNING, logger="seeding"):
        assert not await store.write(BUILD, Variant.HTML, "/a", page(), NOW)
    assert store.stats.dropped == 1 and store.stats.writes == 0
    assert "429" in caplog.text
    kv.put_error = None
    assert await store.write(BUILD, Variant.HTML, "/b", page(), NOW)


async def test_a_write_that_does_not_answer_in_time_is_dropped(
    store: PageStore, kv: FakeKV
) -> None:
    kv.hang = True
    assert not await store.write(BUILD, Variant.HTML, "/a", page(), NOW)
    assert store.stats.dropped == 1


async def test_a_failing_read_answers_absent(store: PageStore, kv: FakeKV) -> None:
    await store.write(BUILD, Variant.HTML, "/a", page(), NOW)
    kv.get_error = RuntimeError("KV GET failed: 500")
    assert await store.read(BUILD, Variant.HTML, "/a", NOW) is None
    assert store.stats.read_errors == 1


async def test_a_read_that_does_not_answer_in_time_answers_absent(
    store: PageStore, kv: FakeKV
) -> None:
    await store.write(BUILD, Variant.HTML, "/a", page(), NOW)
    kv.hang = True
    assert await store.read(BUILD, Variant.HTML, "/a", NOW) is None
    assert store.stats.read_errors == 1


def _with_header(header: dict[str, object], body: bytes = b"abc") -> bytes:
    return _with_raw_header(json.dumps(header).encode(), body)


def _with_raw_header(raw: bytes, body: bytes = b"abc") -> bytes:
    return b"PAGE\x01" + len(raw).to_bytes(4, "big") + raw + body


GOOD_HEADER: dict[str, object] = {
    "status": 200,
    "headers": {},
    "generatedAt": NOW,
    "revalidate": None,
    "expire": None,
    "tags": [],
    "bodyLength": 3,
}

BAD_VALUES = {
    "empty": b"",
    "not a page": b"<html>hello</html>",
    "another version": b"PAGE\x02" + _with_header(GOOD_HEADER)[5:],
    "header past the end": b"PAGE\x01" + (999).to_bytes(4, "big") + b"{}",
    "header not json": b"PAGE\x01" + (3).to_bytes(4, "big") + b"{{{abc",
    "header a list": b"PAGE\x01" + (2).to_bytes(4, "big") + b"[]",
    "body cut short": _with_header(GOOD_HEADER, b"ab"),
    "status a string": _with_header({**GOOD_HEADER, "status": "200"}),
    "status out of range": _with_header({**GOOD_HEADER, "status": 42}),
    "header values not strings": _with_header({**GOOD_HEADER, "headers": {"a": 1}}),
    "tags not strings": _with_header({**GOOD_HEADER, "tags": [1]}),
    "revalidate a bool": _with_header({**GOOD_HEADER, "revalidate": True}),
    "generatedAt missing": _with_header(
        {k: v for k, v in GOOD_HEADER.items() if k != "generatedAt"}
    ),
    # Untrusted values: what a writer other than this code could leave in the namespace.
    "generatedAt NaN": _with_header({**GOOD_HEADER, "generatedAt": math.nan}),
    "generatedAt Infinity": _with_header({**GOOD_HEADER, "generatedAt": math.inf}),
    "generatedAt past float range": _with_raw_header(
        json.dumps(GOOD_HEADER).replace(f'"generatedAt": {NOW}', '"generatedAt": 1e400').encode()
    ),
    "generatedAt far in the future": _with_header(
        {**GOOD_HEADER, "generatedAt": NOW + MAX_CLOCK_SKEW_SECONDS + 1}
    ),
    "generatedAt negative": _with_header({**GOOD_HEADER, "generatedAt": -1}),
    "revalidate negative": _with_header({**GOOD_HEADER, "revalidate": -60}),
    "expire negative": _with_header({**GOOD_HEADER, "revalidate": 60, "expire": -1}),
    "revalidate a float": _with_header({**GOOD_HEADER, "revalidate": 1.5}),
    "a Set-Cookie header": _with_header({**GOOD_HEADER, "headers": {"set-cookie": "s=alice"}}),
    "a Set-Cookie header in capitals": _with_header(
        {**GOOD_HEADER, "headers": {"Set-Cookie": "s=alice"}}
    ),
    "a private page": _with_header({**GOOD_HEADER, "headers": {"cache-control": "private"}}),
    "a no-store page": _with_header(
        {**GOOD_HEADER, "headers": {"cache-control": "public, no-store"}}
    ),
    "a hop-by-hop header": _with_header(
        {**GOOD_HEADER, "headers": {"transfer-encoding": "chunked"}}
    ),
    "a content-length header": _with_header({**GOOD_HEADER, "headers": {"content-length": "9"}}),
    "CR LF in a header value": _with_header(
        {**GOOD_HEADER, "headers": {"x-a": "1\r\nset-cookie: s=1"}}
    ),
    "NUL in a header value": _with_header({**GOOD_HEADER, "headers": {"x-a": "1\x00"}}),
    "a non-byte character in a header value": _with_header(
        {**GOOD_HEADER, "headers": {"x-a": "\u2603"}}
    ),
    "a header name with a space": _with_header({**GOOD_HEADER, "headers": {"x a": "1"}}),
    "an empty tag": _with_header({**GOOD_HEADER, "tags": [""]}),
    "too many tags": _with_header({**GOOD_HEADER, "tags": [f"t{n}" for n in range(MAX_TAGS + 1)]}),
    "a status the platform cannot answer with": _with_header({**GOOD_HEADER, "status": 101}),
    "a field given twice": _with_raw_header(
        json.dumps(GOOD_HEADER).replace('"status": 200', '"status": 200, "status": 200').encode()
    ),
}


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
async def test_a_value_that_does_not_decode_reads_as_absent_and_is_logged(
    store: PageStore, kv: FakeKV, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    kv.values[page_key(BUILD, Variant.HTML, "/a")] = value
    with caplog.at_level(logging.WARNING, logger="seeding"):
        assert await store.read(BUILD, Variant.HTML, "/a", NOW) is None
    assert store.stats.read_errors == 1 and "ignored" in caplog.text


async def test_invalid_values_are_logged_once_per_interval_and_never_served(
    kv: FakeKV, caplog: pytest.LogCaptureFixture
) -> None:
    store = PageStore(kv, log_interval=60.0)
    kv.values[page_key(BUILD, Variant.HTML, "/a")] = BAD_VALUES["generatedAt NaN"]
    kv.values[page_key(BUILD, Variant.HTML, "/b")] = BAD_VALUES["a Set-Cookie header"]
    with caplog.at_level(logging.WARNING, logger="seeding"):
        assert await store.read(BUILD, Variant.HTML, "/a", NOW) is None
        assert await store.read(BUILD, Variant.HTML, "/b", NOW + 1) is None
        assert await store.read(BUILD, Variant.HTML, "/b", NOW + 61) is None
    lines = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(lines) == 2 and "NaN" in lines[0] and "set-cookie" in lines[1]
    assert store.stats.read_errors == 3 and store.stats.hits == 0


def test_a_page_made_a_little_ahead_of_the_readers_clock_is_accepted() -> None:
    ahead = _with_header({**GOOD_HEADER, "generatedAt": NOW + MAX_CLOCK_SKEW_SECONDS / 2})
    assert decode_entry(ahead, NOW).generated_at == NOW + MAX_CLOCK_SKEW_SECONDS / 2


def test_the_well_formed_value_those_bad_ones_are_made_from_decodes() -> None:
    assert decode_entry(_with_header(GOOD_HEADER), NOW).body == b"abc"


async def test_a_binding_that_answers_text_instead_of_bytes_reads_as_absent(
    store: PageStore, kv: FakeKV
) -> None:
    kv.values[page_key(BUILD, Variant.HTML, "/a")] = encode_entry(page()).decode("latin-1")  # type: ignore[assignment]
    assert await store.read(BUILD, Variant.HTML, "/a", NOW) is None


def test_the_code_hash_is_stable_and_changes_with_any_loaded_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = code_identity()
    assert first == code_identity() and first.startswith("code-")
    module = tmp_path / "site_module_for_the_hash.py"
    module.write_text("PAGE = 'v1'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("site_module_for_the_hash")
    try:
        with_module = code_identity()
        module.write_text("PAGE = 'v2'\n")
        assert len({first, with_module, code_identity()}) == 3
    finally:
        sys.modules.pop("site_module_for_the_hash", None)

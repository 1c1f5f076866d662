"""DocumentLoader: fetch once per isolate, retry the transient (at most once per interval),
remember the permanent (whatever the bytes hold), never raise."""

from __future__ import annotations

import asyncio
import json

from seeding.seed.assets import AssetResponse
from seeding.seed.documents import DocumentLoader
from tests.unit.fakes import FakeClock


class Store:
    def __init__(self, answers: list[object]) -> None:
        self.answers = answers
        self.fetches = 0

    async def fetch(self, path: str) -> AssetResponse:
        self.fetches += 1
        await asyncio.sleep(0.001)
        answer = self.answers[min(self.fetches, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, AssetResponse)
        return answer


def loader(clock: FakeClock) -> DocumentLoader[str, dict]:
    return DocumentLoader(
        clock, what="document", consequence="rendering instead", retry_interval=1.0
    )


def ok(payload: object) -> AssetResponse:
    return AssetResponse(200, json.dumps(payload).encode())


async def test_concurrent_loads_share_one_fetch() -> None:
    store, docs = Store([ok({"a": 1})]), loader(FakeClock())
    results = await asyncio.gather(*(docs.load(store, "k", "/p", json.loads) for _ in range(10)))
    assert results == [{"a": 1}] * 10 and store.fetches == 1 == docs.fetches


async def test_a_transient_failure_is_retried_only_after_the_interval() -> None:
    clock = FakeClock()
    store, docs = Store([AssetResponse(503, b""), ok({"a": 1})]), loader(clock)
    assert await docs.load(store, "k", "/p", json.loads) is None
    assert await docs.load(store, "k", "/p", json.loads) is None  # within the interval
    assert store.fetches == 1
    clock.advance(1.0)
    assert await docs.load(store, "k", "/p", json.loads) == {"a": 1}
    assert store.fetches == 2 and docs.errors == {}


async def test_a_fetch_that_raises_is_transient() -> None:
    clock = FakeClock()
    store, docs = Store([ConnectionError("reset"), ok([1])]), loader(clock)
    assert await docs.load(store, "k", "/p", json.loads) is None
    clock.advance(1.0)
    assert await docs.load(store, "k", "/p", json.loads) == [1]


async def test_a_404_is_remembered_for_the_isolate() -> None:
    clock = FakeClock()
    store, docs = Store([AssetResponse(404, b""), ok({})]), loader(clock)
    for _ in range(3):
        assert await docs.load(store, "k", "/p", json.loads) is None
        clock.advance(60)
    assert store.fetches == 1 and "HTTP 404" in docs.errors["k"]


async def test_whatever_the_parser_raises_is_permanent_and_never_escapes() -> None:
    clock = FakeClock()

    def parse(raw: bytes) -> dict:
        raise MemoryError("absurd header")

    store, docs = Store([ok({})]), loader(clock)
    for _ in range(2):
        assert await docs.load(store, "k", "/p", parse) is None
        clock.advance(60)
    assert store.fetches == 1 and "absurd header" in docs.errors["k"]


async def test_the_bytes_fetched_are_counted() -> None:
    store, docs = Store([ok({"a": 1})]), loader(FakeClock())
    await docs.load(store, "k", "/p", json.loads)
    assert docs.bytes_fetched == len(json.dumps({"a": 1}))

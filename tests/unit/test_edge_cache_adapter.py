"""The bridge to `ctx.cache`: options sent as the platform documents them (only those
given), `{success, errors}` read back as text, and the presence of `ctx.cache` probed once
per isolate. The JS side is stood in for by plain objects (`js` and `pyodide.ffi` do not
exist under CPython)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from seeding.edge.purge import PurgeOptions, PurgeResult


class JsNull:
    pass


JSNULL = JsNull()


@pytest.fixture
def adapter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    js = types.ModuleType("js")
    js.Object = types.SimpleNamespace(fromEntries=dict)  # type: ignore[attr-defined]
    ffi = types.ModuleType("pyodide.ffi")
    ffi.jsnull = JSNULL  # type: ignore[attr-defined]
    ffi.to_js = lambda value, dict_converter=None: dict_converter(value.items())  # type: ignore[attr-defined]
    pyodide = types.ModuleType("pyodide")
    pyodide.ffi = ffi  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "js", js)
    monkeypatch.setitem(sys.modules, "pyodide", pyodide)
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
    monkeypatch.delitem(sys.modules, "seeding.adapters.edge_cache", raising=False)
    yield importlib.import_module("seeding.adapters.edge_cache")
    sys.modules.pop("seeding.adapters.edge_cache", None)


class JsCache:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.sent: list[tuple[str, Any]] = []

    async def purge(self, options: Any) -> Any:
        self.sent.append(("purge", options))
        return self.answer

    async def invalidate(self, options: Any) -> Any:
        self.sent.append(("invalidate", options))
        return self.answer


def ctx_with(cache: Any) -> Any:
    return types.SimpleNamespace(cache=cache)


async def test_only_the_options_given_are_sent(adapter: Any) -> None:
    cache = JsCache(types.SimpleNamespace(success=True, errors=[]))
    edge = adapter.CtxEdgeCache(ctx_with(cache))
    assert await edge.purge(PurgeOptions(tags=("a", "b"))) == PurgeResult(True, ())
    await edge.invalidate(PurgeOptions(purge_everything=True))
    assert cache.sent == [
        ("purge", {"tags": ["a", "b"]}),
        ("invalidate", {"purgeEverything": True}),
    ]


async def test_a_refusal_is_read_with_each_errors_code_and_message(adapter: Any) -> None:
    error = types.SimpleNamespace(code=10429, message="rate limited")
    cache = JsCache(types.SimpleNamespace(success=False, errors=[error, "plain"]))
    result = await adapter.CtxEdgeCache(ctx_with(cache)).purge(PurgeOptions(tags=("a",)))
    assert result == PurgeResult(False, ("10429: rate limited", "plain"))


async def test_an_empty_answer_is_a_failure(adapter: Any) -> None:
    result = await adapter.CtxEdgeCache(ctx_with(JsCache(None))).purge(PurgeOptions(tags=("a",)))
    assert not result.success and result.errors


def test_without_ctx_cache_there_is_no_edge_and_the_probe_is_made_once(adapter: Any) -> None:
    finder = adapter.EdgeCacheFinder()
    assert finder.of(types.SimpleNamespace()) is None
    assert finder.of(ctx_with(JsCache(None))) is None  # decided for the isolate
    present = adapter.EdgeCacheFinder()
    assert present.of(ctx_with(JsCache(None))) is not None
    assert adapter.EdgeCacheFinder().of(ctx_with(JSNULL)) is None

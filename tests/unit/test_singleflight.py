"""SingleFlight: one call per key; waiters share its result, and get the fallback, never
an exception, when the leader fails, is cancelled or outlasts max_wait."""

from __future__ import annotations

import asyncio

import pytest

from seeding.primitives.singleflight import SingleFlight, poll_until


async def test_concurrent_callers_share_one_call() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 42

    results = await asyncio.gather(*(flight.run("k", work, -1) for _ in range(20)))
    assert results == [42] * 20 and calls == 1
    assert not flight.in_flight("k")


async def test_a_later_call_runs_again_and_other_keys_run_apart() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    order: list[str] = []

    async def work(tag: str) -> str:
        order.append(tag)
        await asyncio.sleep(0)
        return tag

    assert await asyncio.gather(
        flight.run("a", lambda: work("a"), ""), flight.run("b", lambda: work("b"), "")
    ) == ["a", "b"]
    assert await flight.run("a", lambda: work("a2"), "") == "a2"
    assert order == ["a", "b", "a2"]


async def test_when_the_leader_fails_it_raises_and_the_waiters_get_the_fallback() -> None:
    flight: SingleFlight[str, str] = SingleFlight()

    async def broken() -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("the fetch broke")

    leader = asyncio.ensure_future(flight.run("k", broken, "fallback"))
    await asyncio.sleep(0)
    waiters = await asyncio.gather(*(flight.run("k", broken, "fallback") for _ in range(3)))
    assert waiters == ["fallback"] * 3
    with pytest.raises(RuntimeError, match="the fetch broke"):
        await leader
    assert not flight.in_flight("k")


async def test_when_the_leader_is_cancelled_the_waiters_get_the_fallback() -> None:
    flight: SingleFlight[str, str] = SingleFlight()

    async def slow() -> str:
        await asyncio.sleep(10)
        return "late"

    leader = asyncio.ensure_future(flight.run("k", slow, "fallback"))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(flight.run("k", slow, "fallback"))
    await asyncio.sleep(0.01)
    leader.cancel()
    assert await waiter == "fallback"
    assert not flight.in_flight("k")


async def test_a_waiter_gives_up_after_max_wait_with_the_fallback() -> None:
    flight: SingleFlight[str, str] = SingleFlight(max_wait=0.05)
    release = asyncio.Event()

    async def stuck() -> str:
        await release.wait()
        return "finally"

    leader = asyncio.ensure_future(flight.run("k", stuck, "fallback"))
    await asyncio.sleep(0)
    assert await flight.run("k", stuck, "fallback") == "fallback"
    release.set()
    assert await leader == "finally"


async def test_poll_until_answers_true_once_the_flag_is_set() -> None:
    flag = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, flag.set)
    assert await poll_until(flag.is_set, max_wait=1.0)


async def test_poll_until_gives_up_after_about_max_wait() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert not await poll_until(lambda: False, max_wait=0.05)
    assert 0.05 <= loop.time() - start < 0.5


async def test_poll_until_a_flag_already_set_does_not_wait() -> None:
    waiting = poll_until(lambda: True, max_wait=1.0)
    with pytest.raises(StopIteration):
        waiting.send(None)

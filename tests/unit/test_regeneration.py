"""Regenerator: one regeneration per key at a time in an isolate, a doubling back-off
after failures, a short pause after deferring to another isolate, nothing raised."""

from __future__ import annotations

import asyncio
import logging

from seeding.primitives.regenerator import MAX_PAUSED_KEYS, Regenerator
from tests.unit.fakes import FakeClock


def regenerator(clock: FakeClock) -> Regenerator:
    return Regenerator(clock, first_backoff=2.0, max_backoff=8.0, deferred_pause=1.0)


async def test_one_regeneration_runs_per_key_at_a_time() -> None:
    clock = FakeClock()
    regen = regenerator(clock)
    release = asyncio.Event()

    async def work() -> bool:
        await release.wait()
        return True

    job = regen.claim("k", work)
    assert job is not None and regen.is_running("k")
    assert regen.claim("k", work) is None
    other = regen.claim("other", work)
    assert other is not None
    release.set()
    await asyncio.gather(job, other)
    assert not regen.is_running("k") and regen.started == 2
    again = regen.claim("k", work)  # done: may run again at once
    assert again is not None
    await again


async def test_failures_back_off_doubling_to_the_ceiling_and_are_logged_not_raised(caplog) -> None:
    clock = FakeClock()
    regen = regenerator(clock)

    async def broken() -> bool:
        raise RuntimeError("renderer down")

    with caplog.at_level(logging.ERROR, logger="seeding"):
        job = regen.claim("k", broken)
        assert job is not None
        await job  # never raises
        for pause in [2.0, 4.0, 8.0, 8.0]:
            failed_at = clock.now
            clock.now = failed_at + pause - 0.01
            assert regen.claim("k", broken) is None
            clock.now = failed_at + pause
            job = regen.claim("k", broken)
            assert job is not None
            await job
    assert caplog.text.count("keeping the last good page") == 5


async def test_a_success_clears_the_back_off() -> None:
    clock = FakeClock()
    regen = regenerator(clock)
    outcomes = iter([RuntimeError("once"), True, RuntimeError("again")])

    async def work() -> bool:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    await regen.claim("k", work)  # fails: 2 s
    clock.advance(2)
    await regen.claim("k", work)  # succeeds
    await regen.claim("k", work)  # fails again: back to the first pause, not 4 s
    clock.advance(2)
    job = regen.claim("k", work)
    assert job is not None
    job.close()


async def test_deferring_to_another_isolate_pauses_briefly() -> None:
    clock = FakeClock()
    regen = regenerator(clock)

    async def someone_else_has_it() -> bool:
        return False

    await regen.claim("k", someone_else_has_it)
    assert regen.deferred == 1
    assert regen.claim("k", someone_else_has_it) is None
    clock.advance(1.0)
    job = regen.claim("k", someone_else_has_it)
    assert job is not None
    await job


async def test_a_key_left_alone_for_a_ceiling_after_its_pause_starts_its_back_off_over() -> None:
    clock = FakeClock()
    regen = regenerator(clock)  # 2 s doubling to 8 s

    async def broken() -> bool:
        raise RuntimeError("renderer down")

    await regen.claim("k", broken)  # 2 s
    clock.advance(2)
    await regen.claim("k", broken)  # 4 s: the doubling goes on within the ceiling
    clock.advance(4 + 8)  # the pause, then a ceiling of quiet
    await regen.claim("k", broken)  # starts over: 2 s, not 8 s
    clock.advance(2)
    job = regen.claim("k", broken)
    assert job is not None
    await job


async def test_many_failing_keys_are_remembered_within_a_bound() -> None:
    clock = FakeClock()
    regen = Regenerator(clock, first_backoff=60.0, max_backoff=60.0)

    async def broken() -> bool:
        raise RuntimeError("renderer down")

    for i in range(MAX_PAUSED_KEYS + 10):
        await regen.claim(f"k{i}", broken)
    assert regen.claim(f"k{MAX_PAUSED_KEYS + 9}", broken) is None  # the newest still waits
    job = regen.claim("k0", broken)  # the oldest was forgotten: it may try again
    assert job is not None
    await job

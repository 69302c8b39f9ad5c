"""Supervised background loops: a failing body restarts, one that keeps failing is not ready,
one that hangs is wedged. Time for the thresholds is a fake clock; restarts really sleep."""

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from chime_kit.loops import BackgroundLoop, restart_delay
from chime_kit.testing import eventually

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def restarts(name: str) -> float:
    return REGISTRY.get_sample_value("chime_loop_restarts_total", {"loop": name}) or 0.0


def test_restart_delays_grow_with_jitter_up_to_a_cap() -> None:
    assert [restart_delay(n, 0.1, 1.0, rng=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
    ]
    assert restart_delay(3, 0.1, 1.0, rng=lambda: 0.0) == 0.2


async def test_a_body_that_raises_is_logged_at_once_and_restarted(caplog) -> None:
    runs = 0
    done = asyncio.Event()

    async def body() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ConnectionResetError("the database went away")
        while True:
            loop.clear()
            done.set()
            await loop.sleep(10)

    loop = BackgroundLoop("test-raises-once", body, restart_base_seconds=0.01)
    before = restarts("test-raises-once")
    with caplog.at_level(logging.ERROR, logger="chime_kit.loops"):
        loop.start()
        await asyncio.wait_for(done.wait(), 5)
    await loop.stop()

    assert runs == 2
    assert restarts("test-raises-once") == before + 1
    [record] = [r for r in caplog.records if "test-raises-once" in r.getMessage()]
    assert record.exc_info is not None
    assert "the database went away" in str(record.exc_info[1])
    assert loop.ready
    assert loop.failures == 0


async def test_a_body_that_keeps_raising_is_not_ready_after_the_threshold() -> None:
    clock = Clock()

    async def body() -> None:
        loop.clear()
        raise RuntimeError("cannot switch to state 15")

    loop = BackgroundLoop(
        "test-keeps-raising",
        body,
        restart_base_seconds=0.001,
        restart_max_seconds=0.001,
        failing_after=30.0,
        clock=clock,
    )
    loop.start()
    await eventually(lambda: asyncio.sleep(0, loop.failures >= 3))
    assert loop.ready  # failing, but not for long yet
    clock.now += 31
    assert not loop.ready
    assert loop.last_error == "RuntimeError('cannot switch to state 15')"
    assert not loop.wedged  # it fails, it does not hang
    await loop.stop()


async def test_a_body_that_recovers_is_ready_again() -> None:
    clock = Clock()
    fail = True
    looked = asyncio.Event()

    async def body() -> None:
        while True:
            loop.clear()
            if fail:
                raise OSError("connection refused")
            looked.set()
            await loop.sleep(0.01)

    loop = BackgroundLoop("test-recovers", body, restart_base_seconds=0.001, clock=clock)
    loop.start()
    await eventually(lambda: asyncio.sleep(0, loop.failures >= 2))
    clock.now += 60
    assert not loop.ready
    fail = False
    await asyncio.wait_for(looked.wait(), 5)
    await eventually(lambda: asyncio.sleep(0, loop.ready))
    assert loop.failures == 0
    await loop.stop()


async def test_a_body_that_hangs_is_wedged_but_a_sleeping_one_is_not() -> None:
    clock = Clock()
    hang = asyncio.Event()
    hanging = asyncio.Event()

    async def body() -> None:
        while True:
            loop.clear()
            if hang.is_set():
                hanging.set()
                await asyncio.Event().wait()  # a call that never returns
            await loop.sleep(3600)

    loop = BackgroundLoop("test-hangs", body, wedged_after=60.0, clock=clock)
    loop.start()
    await asyncio.sleep(0)
    clock.now += 120
    assert not loop.wedged  # idle in sleep(): waiting for work is not being stuck
    clock.now -= 120
    hang.set()
    loop.wake()
    await asyncio.wait_for(hanging.wait(), 5)
    clock.now += 59
    assert not loop.wedged
    clock.now += 2
    assert loop.wedged
    assert loop.ready  # nothing raised: only the liveness probe can tell
    await loop.stop()
    assert not loop.wedged  # a stopped loop is not expected to beat


async def test_work_until_idle_works_while_busy_then_sleeps_until_due_or_woken() -> None:
    from datetime import UTC, datetime, timedelta

    from chime_kit.loops import work_until_idle

    calls: list[str] = []
    busy = [True, True, False, False, False]
    due_in, dues = timedelta(seconds=0.05), 0

    async def work() -> bool:
        calls.append("work")
        return busy.pop(0) if busy else False

    async def next_due() -> datetime:
        calls.append("due")
        return datetime.now(UTC) + due_in

    loop = BackgroundLoop("idle-test", lambda: work_until_idle(loop, work, max_idle=60.0,
                                                               next_due=next_due))  # fmt: skip

    async def works(n: int) -> bool:
        return calls.count("work") >= n

    async def asleep() -> bool:
        return calls.count("due") > dues and calls[-1] == "due"

    loop.start()
    try:
        # Two busy rounds back to back, then idle: the next due time (50 ms) ends the sleep
        # long before max_idle (60 s).
        await eventually(lambda: works(4), within=2.0)
        assert calls[:5] == ["work", "work", "work", "due", "work"]
        due_in, dues = timedelta(hours=1), calls.count("due")
        await eventually(asleep, within=2.0)
        before = calls.count("work")
        await asyncio.sleep(0.1)
        assert calls.count("work") == before  # sleeping towards a due time an hour away
        loop.wake()
        await eventually(lambda: works(before + 1), within=2.0)
    finally:
        await loop.stop()

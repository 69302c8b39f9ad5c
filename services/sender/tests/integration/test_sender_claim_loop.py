"""The delivery loop's pace of claiming: again at once only after a claim that took all it
asked for; a call that ends wakes the loop only when the free concurrency held a claim back."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sender_harness import Emulator, request

from chime_sender.adapters.postgres import stores
from chime_sender.bootstrap import Dependencies, build
from chime_sender.entrypoints.delivery import DeliveryLoop
from chime_sender.handlers import store
from chime_sender.settings import SenderSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def deps(
    emulator: Emulator, sender_settings: Callable[..., SenderSettings]
) -> AsyncIterator[Dependencies]:
    built = await build(sender_settings(emulator))
    try:
        yield built
    finally:
        await built.close()


async def stored(deps: Dependencies, emulator: Emulator, *chats: int) -> None:
    for chat in chats:
        await emulator.private_chat(chat)
        envelope = request(f"loop-{chat}", chat)
        async with deps.runtime.unit_of_work(envelope) as uow:
            await store.store_send_request(uow, stores(uow.conn), envelope)
    await asyncio.sleep(0.1)  # past the order grace: claimable


async def drained(loop: DeliveryLoop) -> None:
    """The loop's calls were never meant to finish here (no settler runs): dropped."""
    for task in list(loop._in_flight):
        task.cancel()
    await asyncio.gather(*loop._in_flight, return_exceptions=True)


def delivery_loop(deps: Dependencies, **kwargs: Any) -> DeliveryLoop:
    values: dict[str, Any] = {"batch_size": 2, "concurrency": 10, "lease_seconds": 10.0,
                              "max_idle_seconds": 0.1} | kwargs  # fmt: skip
    return DeliveryLoop(deps.runtime, deps.sending, **values)


async def test_only_a_full_claim_is_followed_by_another_at_once(
    deps: Dependencies, emulator: Emulator
) -> None:
    await stored(deps, emulator, 4101, 4102, 4103)
    loop = delivery_loop(deps)
    try:
        assert await loop._claimed_any() is True  # two of two: there may be more
        assert len(loop._in_flight) == 2
        assert await loop._claimed_any() is False  # one of two: that was all
        assert len(loop._in_flight) == 3
        assert await loop._claimed_any() is False  # nothing
        assert len(loop._in_flight) == 3
    finally:
        await drained(loop)


async def test_an_ending_call_wakes_the_loop_only_when_concurrency_held_it_back(
    deps: Dependencies, emulator: Emulator
) -> None:
    await stored(deps, emulator, 4201, 4202)
    loop = delivery_loop(deps, concurrency=1)
    woken: list[bool] = []
    loop.wake = lambda *_: woken.append(True)  # type: ignore[method-assign]
    try:
        await loop.run_once()  # takes one; the concurrency left the other pending
        [task] = loop._in_flight
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert woken == [True]  # room for the other one: look now
        loop.concurrency = 10
        await loop.run_once()  # takes the other, all there was
        [task] = loop._in_flight
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert woken == [True]  # nothing held back: no look for nothing
    finally:
        await drained(loop)


async def test_work_due_but_not_claimed_is_looked_for_again_after_the_recheck(
    deps: Dependencies, emulator: Emulator
) -> None:
    loop = delivery_loop(deps, recheck_seconds=5.0)
    assert await loop._next_ready_at() is None  # nothing pending: the longest sleep
    await stored(deps, emulator, 4301)
    before = datetime.now(UTC)
    # Due already (a claim that left it pending found its chat paced or its bot's slots
    # taken): not at once, after the recheck.
    due = await loop._next_ready_at()
    assert due is not None
    assert due >= before + timedelta(seconds=5.0)

"""The outbox is partitioned by chat; relays share the partitions and keep each chat's order."""

import asyncio
import random

import orjson
import pytest
from prometheus_client import REGISTRY

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived, UserStarted
from chime_kit import outbox
from chime_kit.outbox import PARTITIONS, partition_of
from chime_kit.relay import OutboxRelay
from chime_kit.testing import event_tap, eventually


def event(chat_id: int, seq: int) -> UserStarted:
    """Event `seq` of a chat (its stream): the sequence travels in `user_id`."""
    return UserStarted(bot_id=1, chat_id=chat_id, user_id=seq)


@pytest.mark.unit
def test_a_chats_events_share_a_partition_whatever_their_correlation():
    one = envelope_of(event(5, 1), producer="demo")
    other = envelope_of(event(5, 2), producer="demo", correlation_id="someone else")
    assert partition_of(one) == partition_of(other)
    chats = {partition_of(envelope_of(event(c, 1), producer="demo")) for c in range(200)}
    assert chats == set(range(PARTITIONS))


@pytest.mark.unit
def test_an_event_without_a_chat_goes_by_its_correlation():
    def update(correlation_id: str) -> int:
        received = UpdateReceived(bot_id=1, update_id=1, kind="message", update={})
        return partition_of(envelope_of(received, producer="demo", correlation_id=correlation_id))

    assert len({update(f"c{i}") for i in range(200)}) == PARTITIONS
    assert update("c1") == update("c1")


def relay_of(runtime, amqp_url: str) -> OutboxRelay:
    return OutboxRelay(
        runtime.pool,
        amqp_url,
        schema="demo",
        batch_size=4,  # many small batches: the pipeline reads ahead all the time
        idle_poll_seconds=0.02,
        rebalance_seconds=0.1,
    )


async def split_between(relays: list[OutboxRelay]) -> None:
    async def shared() -> bool:
        held = [r.partitions for r in relays]
        return all(len(h) == PARTITIONS // len(relays) for h in held) and (
            len(frozenset().union(*held)) == PARTITIONS
        )

    await eventually(shared)


async def write_streams(runtime, chats: range, events: range) -> None:
    async def write(chat_id: int) -> None:
        for seq in events:
            async with runtime.unit_of_work() as uow:
                await uow.record(f"chat-{chat_id}", seq - 1, event(chat_id, seq))
                # Hold some transactions open so later ids commit first.
                await asyncio.sleep(random.random() * 0.01)

    await asyncio.gather(*(write(c) for c in chats))


def sequences(messages) -> dict[int, list[int]]:
    seen: dict[int, list[int]] = {}
    for m in messages:
        data = orjson.loads(m.body)["data"]
        seen.setdefault(data["chat_id"], []).append(data["user_id"])
    return seen


@pytest.mark.integration
async def test_relay_partitions_keep_per_stream_order_under_concurrent_writers(
    runtime, tap, amqp_url
):
    chats, events = range(20), range(1, 16)
    relays = [relay_of(runtime, amqp_url) for _ in range(2)]
    for relay in relays:
        await relay.start()
    try:
        await split_between(relays)
        covered = {partition_of(envelope_of(event(c, 1), producer="demo")) for c in chats}
        assert all(covered & relay.partitions for relay in relays)  # both relays publish
        await write_streams(runtime, chats, events)
        messages = await tap.take(len(chats) * len(events), within=30)
    finally:
        for relay in relays:
            await relay.stop()
    assert sequences(messages) == {c: list(events) for c in chats}
    assert len({m.message_id for m in messages}) == len(messages)
    async with runtime.pool.acquire() as conn:
        assert await outbox.pending_count(conn) == 0


@pytest.mark.integration
async def test_a_stopped_relays_partitions_are_taken_over_in_order(runtime, tap, amqp_url):
    chats = range(20)
    first, second = relay_of(runtime, amqp_url), relay_of(runtime, amqp_url)
    await first.start()
    await second.start()
    try:
        await split_between([first, second])
        await write_streams(runtime, chats, range(1, 6))
        await second.stop()
        await split_between([first])
        await write_streams(runtime, chats, range(6, 11))
        messages = await tap.take(len(chats) * 10, within=30)
        # Duplicates count in `take`: take on until every event arrived.
        while len({m.message_id for m in messages}) < len(chats) * 10:
            messages += await tap.take(1)
    finally:
        await first.stop()
        await second.stop()
    # A publish confirmed but not yet deleted when a relay stops goes out again (at least
    # once); the first time each event arrives is in its stream's order.
    firsts = {c: list(dict.fromkeys(s)) for c, s in sequences(messages).items()}
    assert firsts == {c: list(range(1, 11)) for c in chats}


@pytest.mark.integration
async def test_the_running_relay_does_not_skip_a_row_committed_after_a_later_id(runtime, tap):
    await runtime.relay.start()
    slow_conn = await runtime.pool.acquire()
    slow_tx = slow_conn.transaction()
    await slow_tx.start()
    await outbox.add(slow_conn, [envelope_of(event(10, 1), producer="demo")])
    async with runtime.unit_of_work() as uow:
        await uow.emit(event(11, 1))
    [first] = await tap.take(1)
    await slow_tx.commit()
    await runtime.pool.release(slow_conn)
    [second] = await tap.take(1)
    assert [orjson.loads(m.body)["data"]["chat_id"] for m in (first, second)] == [11, 10]


@pytest.mark.integration
async def test_the_running_relay_keeps_an_unroutable_event_until_it_can_be_routed(
    runtime, amqp_url
):
    def failures() -> float:
        sample = REGISTRY.get_sample_value(
            "chime_outbox_publish_failures_total", {"service": "demo"}
        )
        return sample or 0.0

    before = failures()
    await runtime.relay.start()  # no queue is bound in this vhost yet: the publish returns
    async with runtime.unit_of_work() as uow:
        [envelope] = await uow.emit(event(12, 1))

    async def returned() -> bool:
        return failures() > before

    await eventually(returned)
    async with runtime.pool.acquire() as conn:
        assert await outbox.pending_count(conn) == 1
    async with event_tap(amqp_url) as tap:
        [message] = await tap.take(1)
    assert message.message_id == envelope.id

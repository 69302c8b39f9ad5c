"""The outbox publishes an event if and only if its transaction committed."""

import asyncio
import random

import aio_pika
import asyncpg
import orjson
import pytest

from chime_contracts.events import UserStarted
from chime_kit import outbox
from chime_kit.testing import eventually

pytestmark = pytest.mark.integration


def started(chat_id: int) -> UserStarted:
    return UserStarted(bot_id=1, chat_id=chat_id, user_id=chat_id)


class Boom(Exception):
    pass


async def test_published_iff_committed(runtime, tap):
    await runtime.relay.connect()

    async def emit_then_fail() -> None:
        async with runtime.unit_of_work() as uow:
            await uow.emit(started(1))
            raise Boom

    with pytest.raises(Boom):
        await emit_then_fail()
    async with runtime.unit_of_work() as uow:
        [committed] = await uow.emit(started(2))

    assert await runtime.relay.publish_pending() == 1
    [message] = await tap.take(1)
    assert message.message_id == committed.id
    assert orjson.loads(message.body)["data"]["chat_id"] == 2
    assert message.routing_key == "user.started.v1"
    assert await tap.message_count() == 0
    async with runtime.pool.acquire() as conn:
        assert await outbox.pending_count(conn) == 0


async def test_unroutable_event_stays_pending(runtime):
    await runtime.relay.connect()  # no queue is bound in this vhost: every publish returns
    async with runtime.unit_of_work() as uow:
        await uow.emit(started(3))
    assert await runtime.relay.publish_pending() == 0
    async with runtime.pool.acquire() as conn:
        assert await outbox.pending_count(conn) == 1


async def test_with_the_event_log_no_event_is_unroutable(runtime, amqp_url):
    from chime_contracts.routing import EVENT_LOG_QUEUE
    from chime_kit.relay import OutboxRelay

    relay = OutboxRelay(runtime.pool, amqp_url, schema="demo", event_log_max_age="1h")
    await relay.connect()
    try:
        async with runtime.unit_of_work() as uow:
            await uow.emit(started(4))
        assert await relay.publish_pending() == 1
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=10)
            log = await channel.declare_queue(EVENT_LOG_QUEUE, passive=True)
            async with log.iterator(arguments={"x-stream-offset": "first"}, timeout=5) as it:
                async for message in it:
                    assert orjson.loads(message.body)["data"]["chat_id"] == 4
                    await message.ack()
                    break
    finally:
        await relay.stop()


async def test_many_concurrent_writers_lose_nothing_and_keep_stream_order(runtime, tap):
    streams, per_stream = 20, 15
    await runtime.relay.start()

    async def write_stream(n: int) -> None:
        for version in range(1, per_stream + 1):
            async with runtime.unit_of_work() as uow:
                # A stream's events concern one chat, as every service's streams do.
                event = UserStarted(bot_id=1, chat_id=n, user_id=version)
                await uow.record(f"chat-{n}", version - 1, event)
                # Hold some transactions open so later ids commit first.
                await asyncio.sleep(random.random() * 0.01)

    await asyncio.gather(*(write_stream(n) for n in range(streams)))
    messages = await tap.take(streams * per_stream, within=30)

    seen: dict[int, list[int]] = {}
    for m in messages:
        data = orjson.loads(m.body)["data"]
        seen.setdefault(data["chat_id"], []).append(data["user_id"])
    assert sorted(seen) == list(range(streams))
    for versions in seen.values():
        assert versions == list(range(1, per_stream + 1))
    assert len({m.message_id for m in messages}) == streams * per_stream


async def test_a_row_committed_after_a_later_id_is_not_skipped(runtime, tap):
    """The classic cursor trap: id 1 commits after id 2 was already published."""
    await runtime.relay.connect()
    slow_conn = await runtime.pool.acquire()
    slow_tx = slow_conn.transaction()
    await slow_tx.start()
    await outbox.add(slow_conn, [_wrap(started(10))])
    async with runtime.unit_of_work() as uow:
        await uow.emit(started(11))
    assert await runtime.relay.publish_pending() == 1
    await slow_tx.commit()
    await runtime.pool.release(slow_conn)
    assert await runtime.relay.publish_pending() == 1
    chats = [orjson.loads(m.body)["data"]["chat_id"] for m in await tap.take(2)]
    assert chats == [11, 10]


def _wrap(event):
    from chime_contracts.envelope import envelope_of

    return envelope_of(event, producer="demo")


async def test_the_relay_outlives_lost_database_connections(runtime, tap, database_url):
    await runtime.relay.start()
    async with runtime.unit_of_work() as uow:
        await uow.emit(started(21))
    await tap.take(1)
    # Every server process of the relay's pool is killed, as a database restart would.
    admin = await asyncpg.connect(database_url)
    killed = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    await admin.close()
    assert killed >= 1
    await asyncio.sleep(0.3)  # the relay meets the dead connections and recovers
    for attempt in range(50):
        try:
            async with runtime.unit_of_work() as uow:
                await uow.emit(started(22))
            break
        except Exception:  # whatever a dead pooled connection raises: try again
            await asyncio.sleep(0.1 * attempt)
    [message] = await tap.take(1, within=15)
    assert orjson.loads(message.body)["data"]["chat_id"] == 22


async def test_a_commit_anywhere_wakes_the_relay_long_before_its_poll(runtime, tap, amqp_url):
    """Rows another process committed (a replica, a tool: nothing calls this relay's
    `wake`) are published at their commit's notification, not at the next poll."""
    from chime_kit.relay import OutboxRelay

    relay = OutboxRelay(runtime.pool, amqp_url, schema="demo", idle_poll_seconds=60.0)
    await relay.start()
    try:
        await asyncio.sleep(0.5)  # its first look found nothing: it waits for a poll or a wake
        url = runtime.settings.database_url.get_secret_value()
        other = await asyncpg.connect(url, server_settings={"search_path": "demo"})
        try:
            async with other.transaction():
                await outbox.add(other, [_wrap(started(31))])
                await outbox.add(other, [_wrap(started(32))])
        finally:
            await other.close()
        messages = await tap.take(2, within=10)
        assert [orjson.loads(m.body)["data"]["chat_id"] for m in messages] == [31, 32]
    finally:
        await relay.stop()


async def test_an_idle_relay_does_not_look_until_it_is_woken(runtime, tap, amqp_url, monkeypatch):
    from chime_kit import relay as relay_module
    from chime_kit.relay import OutboxRelay

    relay = OutboxRelay(runtime.pool, amqp_url, schema="demo", idle_poll_seconds=60.0)
    looks: list[int] = []
    fetch = OutboxRelay._fetch

    async def counted(self, conn, partitions, in_flight):
        looks.append(len(in_flight))
        return await fetch(self, conn, partitions, in_flight)

    monkeypatch.setattr(relay_module.OutboxRelay, "_fetch", counted)
    await relay.start()
    try:
        await asyncio.sleep(1.0)
        assert looks == [0]  # one look at start; then it waits (a poll every 20 ms was 50)
        async with runtime.unit_of_work() as uow:  # not this relay's runtime: no wake call
            await uow.emit(started(41))

        async def published() -> bool:
            async with runtime.pool.acquire() as conn:
                return await outbox.pending_count(conn) == 0

        await eventually(published, within=10.0)
        await asyncio.sleep(0.5)
        # The notification's look found the row; after its batch (one row, not full, no
        # commit since) nothing more is read until the next wake.
        assert looks == [0, 0]
    finally:
        await relay.stop()

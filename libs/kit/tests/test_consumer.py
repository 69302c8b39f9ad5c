"""Consumers apply each event once; failures retry, then dead-letter; nothing is dropped."""

import asyncio
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UserStarted
from chime_contracts.routing import dead_letter_queue
from chime_kit.broker import declare_consumer_queue
from chime_kit.consumer import Router
from chime_kit.dead_letters import peek, replay
from chime_kit.faulty_link import FaultyLink, faulty_link
from chime_kit.runtime import open_runtime
from chime_kit.settings import ServiceSettings
from chime_kit.testing import eventually, publish_envelope

pytestmark = pytest.mark.integration


async def dead_letters(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(dead_letter_queue(queue), passive=True)
        return declared.declaration_result.message_count or 0


def envelope(chat_id: int):
    return envelope_of(UserStarted(bot_id=1, chat_id=chat_id, user_id=chat_id), producer="test")


def through(link: FaultyLink, database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{link.port}"))


async def start_with(runtime, handler) -> None:
    router = Router()
    runtime.subscribe(router, queue="demo.user-started", event=UserStarted, handler=handler)
    runtime.broker.include_router(router)
    await runtime.start()


async def test_a_redelivered_event_is_applied_once(runtime, amqp_url):
    async def store_note(uow, env):
        await uow.conn.execute("INSERT INTO notes (id, body) VALUES ($1, $2)", env.id, "x")

    await start_with(runtime, store_note)
    event = envelope(5)
    for _ in range(3):
        await publish_envelope(amqp_url, event)

    async def three_seen() -> bool:
        return await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 1

    await eventually(three_seen, within=10.0)
    await asyncio.sleep(0.3)  # let the duplicates arrive too
    assert await runtime.pool.fetchval("SELECT count(*) FROM notes") == 1


async def test_handler_failure_retries_then_dead_letters(runtime, amqp_url):
    calls: list[str] = []

    async def always_fails(uow, env):
        await uow.conn.execute("INSERT INTO notes (id, body) VALUES ($1, $2)", env.id, "x")
        calls.append(env.id)
        raise RuntimeError("downstream is broken")

    await start_with(runtime, always_fails)
    event = envelope(6)
    await publish_envelope(amqp_url, event)

    async def dead_lettered() -> bool:
        return await dead_letters(amqp_url, "demo.user-started") == 1

    await eventually(dead_lettered, within=20)
    # delivery_limit=2: the first delivery and two redeliveries, then the dead-letter queue.
    assert calls == [event.id] * 3
    # The failed attempts rolled back: no note and no inbox row.
    assert await runtime.pool.fetchval("SELECT count(*) FROM notes") == 0
    assert await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 0


async def test_poison_message_goes_straight_to_dead_letters(runtime, amqp_url):
    calls: list[str] = []

    async def record(uow, env):
        calls.append(env.id)

    await start_with(runtime, record)
    await publish_envelope(amqp_url, b'{"not": "an envelope"}', "user.started.v1")
    await publish_envelope(amqp_url, b"\xff\xfe garbage", "user.started.v1")
    good = envelope(7)
    await publish_envelope(amqp_url, good)

    async def two_dead() -> bool:
        return await dead_letters(amqp_url, "demo.user-started") == 2

    await eventually(two_dead, within=10.0)
    await eventually(lambda: _true_if(calls == [good.id]), within=10.0)


async def _true_if(value: bool) -> bool:
    return value


async def test_consuming_and_relaying_resume_after_the_broker_connection_is_lost(
    runtime, amqp_url, break_amqp_connections
):
    async def store_note(uow, env):
        await uow.conn.execute("INSERT INTO notes (id, body) VALUES ($1, $2)", env.id, "x")

    await start_with(runtime, store_note)
    assert await break_amqp_connections() >= 2  # the consumers' and the relay's

    # An event published through the outbox after the loss, and one straight to the bus.
    async with runtime.unit_of_work() as uow:
        await uow.emit(UserStarted(bot_id=1, chat_id=8, user_id=8))
    await publish_envelope(amqp_url, envelope(9))

    async def both_applied() -> bool:
        return await runtime.pool.fetchval("SELECT count(*) FROM notes") == 2

    await eventually(both_applied, within=30.0)


async def test_dead_letters_can_be_listed_and_replayed_once_the_cause_is_fixed(runtime, amqp_url):
    broken = True
    calls: list[str] = []

    async def store_note(uow, env):
        calls.append(env.id)
        if broken:
            raise RuntimeError("downstream is broken")
        await uow.conn.execute("INSERT INTO notes (id, body) VALUES ($1, $2)", env.id, "x")

    await start_with(runtime, store_note)
    events = [envelope(n) for n in (31, 32)]
    for event in events:
        await publish_envelope(amqp_url, event)

    async def both_dead() -> bool:
        return await dead_letters(amqp_url, "demo.user-started") == 2

    await eventually(both_dead, within=20.0)

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        listed = await peek(channel, "demo.user-started", limit=10)
        assert {letter.message_id for letter in listed} == {e.id for e in events}
        assert {letter.reason for letter in listed} == {"delivery_limit"}
        assert await dead_letters(amqp_url, "demo.user-started") == 2  # peeking moved nothing

        broken = False
        assert await replay(channel, "demo.user-started") == 2

    async def applied() -> bool:
        return await runtime.pool.fetchval("SELECT count(*) FROM notes") == 2

    await eventually(applied)
    assert await dead_letters(amqp_url, "demo.user-started") == 0


async def test_in_flight_tracks_messages_until_they_are_stored(runtime, amqp_url):
    tracker = runtime.in_flight("demo.user-started")
    seen: list = []
    release = asyncio.Event()

    async def slow(uow, env):
        seen.append(tracker.watermark())
        await release.wait()

    await start_with(runtime, slow)
    event = envelope(41)
    await publish_envelope(amqp_url, event)

    async def in_flight() -> bool:
        return bool(seen)

    await eventually(in_flight)
    assert seen == [event.occurred_at]
    release.set()

    async def finished() -> bool:
        return (
            tracker.watermark() is None
            and await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 1
        )

    await eventually(finished)


async def test_a_failing_message_does_not_hold_the_watermark_during_its_pause(runtime, amqp_url):
    tracker = runtime.in_flight("demo.user-started")
    failures: list[int] = []

    async def fails(uow, env):
        failures.append(1)
        raise RuntimeError("broken")

    await start_with(runtime, fails)
    await publish_envelope(amqp_url, envelope(42))

    async def failed_once() -> bool:
        return bool(failures)

    await eventually(failed_once)

    async def cleared() -> bool:
        return tracker.watermark() is None

    await eventually(cleared, interval=0.002)
    # ...while the message waits out its pause, before it comes back to fail again.
    assert len(failures) == 1


async def test_a_batch_with_one_poison_message_applies_the_others_and_dead_letters_the_one(
    runtime, amqp_url
):
    tracker = runtime.in_flight("demo.user-started")
    first, *rest = [envelope(n) for n in range(50, 61)]
    poison = rest[4]
    calls: list[tuple[str, int]] = []
    release = asyncio.Event()

    async def apply(uow, env):
        txid = await uow.conn.fetchval(
            "INSERT INTO applied (event_id, txid) VALUES ($1, txid_current()) RETURNING txid",
            env.id,
        )
        calls.append((env.id, txid))
        if env.id == first.id:
            await release.wait()
        if env.id == poison.id:
            raise RuntimeError("this one is broken")

    await start_with(runtime, apply)
    # The first message holds the consumer until the other ten wait in its buffer, so they
    # are taken as one batch.
    await publish_envelope(amqp_url, first)
    for event in rest:
        await publish_envelope(amqp_url, event)
    await eventually(lambda: _true_if(tracker.count() == 11))
    release.set()

    async def dead_lettered() -> bool:
        return await dead_letters(amqp_url, "demo.user-started") == 1

    await eventually(dead_lettered, within=20.0)
    # One transaction for the batch, until the poison failed it...
    together = calls[1:6]
    assert [event_id for event_id, _ in together] == [e.id for e in rest[:5]]
    assert len({txid for _, txid in together}) == 1
    # ...then each message in a transaction of its own, in delivery order.
    alone = calls[6:16]
    assert [event_id for event_id, _ in alone] == [e.id for e in rest]
    assert len({txid for _, txid in alone}) == 10
    # Then one by one: the others committed in delivery order, the poison rolled back.
    committed = await runtime.pool.fetch("SELECT event_id FROM applied ORDER BY seq")
    assert [r["event_id"] for r in committed] == [first.id] + [
        e.id for e in rest if e is not poison
    ]
    inbox = await runtime.pool.fetch("SELECT event_id FROM inbox")
    assert sorted(r["event_id"] for r in inbox) == sorted(
        e.id for e in [first, *rest] if e is not poison
    )
    assert tracker.watermark() is None


async def test_in_process_delivery_applies_a_batch_with_its_outcomes(runtime):
    """The fast test path: the consumer's own code with the database and no broker."""

    async def apply(uow, env):
        if env.data.chat_id == 13:
            raise RuntimeError("broken")
        await uow.conn.execute("INSERT INTO notes (id, body) VALUES ($1, $2)", env.id, "x")

    router = Router()
    runtime.subscribe(router, queue="demo.user-started", event=UserStarted, handler=apply)
    runtime.broker.include_router(router)
    good, bad, other = envelope(11), envelope(13), envelope(12)

    outcomes = await runtime.broker.deliver(good, bad, other, good)
    assert outcomes == {"demo.user-started": ["applied", "error", "applied", "duplicate"]}
    outcomes = await runtime.broker.deliver(b"{}", routing_key="user.started.v1")
    assert outcomes == {"demo.user-started": ["poison"]}
    notes = await runtime.pool.fetch("SELECT id FROM notes")
    assert {r["id"] for r in notes} == {good.id, other.id}
    assert runtime.in_flight("demo.user-started").watermark() is None


def consumer_of(runtime, handler):
    router = Router()
    runtime.subscribe(router, queue="demo.user-started", event=UserStarted, handler=handler)
    runtime.broker.include_router(router)
    return router.consumers[0]


async def record_application(uow, env):
    await uow.conn.execute(
        "INSERT INTO applied (event_id, txid) VALUES ($1, txid_current())", env.id
    )


async def applications(runtime) -> list[str]:
    rows = await runtime.pool.fetch("SELECT event_id FROM applied ORDER BY seq")
    return [r["event_id"] for r in rows]


async def test_duplicates_within_a_batch_and_of_earlier_batches_are_applied_once(runtime):
    consumer = consumer_of(runtime, record_application)
    earlier, a, b = envelope(21), envelope(22), envelope(23)
    assert await consumer.deliver(earlier) == ["applied"]

    outcomes = await consumer.deliver(a, earlier, a, b, earlier, b)
    assert outcomes == ["applied", "duplicate", "duplicate", "applied", "duplicate", "duplicate"]
    assert await applications(runtime) == [earlier.id, a.id, b.id]
    inbox = await runtime.pool.fetch("SELECT event_id FROM inbox")
    assert sorted(r["event_id"] for r in inbox) == sorted([earlier.id, a.id, b.id])


async def test_a_failed_batch_leaves_no_claims_and_its_messages_apply_one_by_one(runtime):
    """The batch's inbox rows roll back with it: the retry finds none of its own claims."""
    good, bad, other = envelope(31), envelope(32), envelope(33)

    async def apply(uow, env):
        await record_application(uow, env)
        if env.id == bad.id:
            raise RuntimeError("this one is broken")

    consumer = consumer_of(runtime, apply)
    outcomes = await consumer.deliver(good, b"{}", bad, other, good)
    assert outcomes == ["applied", "poison", "error", "applied", "duplicate"]
    assert await applications(runtime) == [good.id, other.id]
    inbox = await runtime.pool.fetch("SELECT event_id FROM inbox")
    assert sorted(r["event_id"] for r in inbox) == sorted([good.id, other.id])
    # Delivered again (the broker's redelivery): the rest are duplicates, the broken one fails.
    assert await consumer.deliver(good, bad, other) == ["duplicate", "error", "duplicate"]
    assert await applications(runtime) == [good.id, other.id]


class CountingConnection:
    """The transaction's connection, counting the statements sent through it."""

    def __init__(self, conn, statements: list[str]) -> None:
        self._conn = conn
        self._statements = statements

    def __getattr__(self, name):
        found = getattr(self._conn, name)
        if name not in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
            return found

        async def counted(query, *args, **kwargs):
            self._statements.append(query)
            return await found(query, *args, **kwargs)

        return counted


async def test_a_batch_claims_its_inbox_rows_in_one_statement(runtime):
    statements: list[str] = []

    async def no_writes(uow, env):
        pass

    consumer = consumer_of(runtime, no_writes)
    opened = consumer.transaction

    @asynccontextmanager
    async def counting():
        async with opened() as tx:
            tx.conn = CountingConnection(tx.conn, statements)
            yield tx

    consumer.transaction = counting
    events = [envelope(n) for n in range(40, 50)]
    assert await consumer.deliver(*events) == ["applied"] * 10
    assert len(statements) == 1
    assert await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 10
    # A batch of one takes the single path: one statement too.
    statements.clear()
    assert await consumer.deliver(envelope(50)) == ["applied"]
    assert len(statements) == 1


async def test_kill_9_of_a_consumer_mid_batch_loses_and_duplicates_nothing(database_url, amqp_url):
    events = [envelope(n) for n in range(1, 201)]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await declare_consumer_queue(
            channel, "demo.user-started", "user.started.v1", delivery_limit=2
        )
        for event in events:
            await publish_envelope(channel, event)

    # The handler of chat 100 stops inside its batch's transaction; then SIGKILL.
    first = await _consumer_process(database_url, amqp_url, "100")
    try:
        async with asyncio.timeout(60):
            while (line := await first.stdout.readline()) != b"mid-batch\n":
                assert line, "the consumer process ended before the batch"
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    pool = await asyncpg.create_pool(database_url, server_settings={"search_path": "demo"})
    try:
        before_kill = await pool.fetchval("SELECT count(*) FROM applied")
        assert 0 < before_kill < 100  # earlier batches committed, chat 100's did not

        second = await _consumer_process(database_url, amqp_url)
        try:

            async def all_applied() -> bool:
                return await pool.fetchval("SELECT count(*) FROM inbox") == len(events)

            await eventually(all_applied, within=60.0)
        finally:
            second.terminate()
            await second.wait()
        rows = await pool.fetch("SELECT event_id FROM applied")
        assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in events)
    finally:
        await pool.close()
    assert await dead_letters(amqp_url, "demo.user-started") == 0


async def _consumer_process(database_url: str, amqp_url: str, *args: str):
    script = Path(__file__).with_name("consumer_process.py")
    return await asyncio.create_subprocess_exec(
        sys.executable, str(script), database_url, amqp_url, *args, stdout=subprocess.PIPE
    )


@asynccontextmanager
async def runtime_through_link(database_url, amqp_url):
    """A runtime whose pool reaches PostgreSQL through a FaultyLink of the test's own."""
    pg = urlsplit(database_url)
    async with faulty_link(pg.hostname or "127.0.0.1", pg.port or 5432) as link:
        settings = ServiceSettings(
            database_url=through(link, database_url),
            amqp_url=amqp_url,
            delivery_limit=2,
            relay_idle_poll_seconds=0.02,
            event_log_max_age=None,
        )
        runtime = await open_runtime("demo", settings, "fake_service_migrations")
        try:
            yield runtime, link
        finally:
            await runtime.stop()


async def store_note(uow, env):
    await uow.conn.execute("INSERT INTO notes (id, body) VALUES ($1, $2)", env.id, "x")


async def test_a_database_outage_keeps_the_messages_instead_of_dead_lettering_them(
    database_url, amqp_url
):
    """Unreachable PostgreSQL is not a poison message: the consumer holds its batch, waits
    for the database and applies it then, spending none of the delivery limit."""
    async with runtime_through_link(database_url, amqp_url) as (runtime, link):
        await start_with(runtime, store_note)
        # Far longer than the delivery limit's nacks with their pauses take (< 1 s).
        link.down(4.0)
        events = [envelope(n) for n in range(70, 85)]
        for event in events:
            await publish_envelope(amqp_url, event)

        async def all_applied() -> bool:
            try:
                return await runtime.pool.fetchval("SELECT count(*) FROM notes") == 15
            except Exception:
                return False  # still down, or a connection the outage broke

        await eventually(all_applied, within=40.0)
        rows = await runtime.pool.fetch("SELECT id FROM notes")
        assert sorted(r["id"] for r in rows) == sorted(e.id for e in events)
        assert await dead_letters(amqp_url, "demo.user-started") == 0


async def test_stopping_while_waiting_for_the_database_hands_the_messages_back(
    database_url, amqp_url
):
    async with runtime_through_link(database_url, amqp_url) as (runtime, link):
        tracker = runtime.in_flight("demo.user-started")
        await start_with(runtime, store_note)
        link.down(600.0)
        await publish_envelope(amqp_url, envelope(90))
        await eventually(lambda: _true_if(tracker.count() == 1))
        await asyncio.sleep(0.5)  # past the first tries: waiting for the database now
        await runtime.broker.stop()
        assert tracker.watermark() is None
        link.up()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue("demo.user-started", passive=True)
        assert queue.declaration_result.message_count == 1  # back, unacked, not dead
    assert await dead_letters(amqp_url, "demo.user-started") == 0

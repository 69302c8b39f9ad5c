"""One queue feeding several routes: each message is applied once per route that wants it,
all in one transaction; queues the routes had before are unbound, drained and deleted."""

from datetime import UTC, datetime

import aio_pika
import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import MessageSent
from chime_contracts.events.shared import SendSource
from chime_kit import retiring
from chime_kit.broker import declare_consumer_queue
from chime_kit.consumer import Route, Router
from chime_kit.testing import eventually, publish_envelope

pytestmark = pytest.mark.integration

QUEUE = "demo.projections-message-sent"


def sent(n: int, kind: str | None = "notification"):
    source = SendSource(kind=kind, id=f"src_{n}") if kind else None
    event = MessageSent(
        delivery_id=f"d{n}", bot_id=1, chat_id=n, telegram_message_id=n, attempts=1,
        sent_at=datetime.now(UTC), source=source,
    )  # fmt: skip
    return envelope_of(event, producer="test")


def recording(route: str, fail_on: set[str] | None = None):
    async def handler(uow, env):
        await uow.conn.execute(
            "INSERT INTO applied (event_id, txid) VALUES ($1, txid_current())", f"{route}:{env.id}"
        )
        if fail_on and env.id in fail_on:
            raise RuntimeError("this route is broken for it")

    return handler


def routes(fail_on: set[str] | None = None) -> list[Route]:
    return [
        Route(recording("notes", fail_on), inbox="demo.notes",
              binding="message.sent.v1.notification"),
        Route(recording("history"), inbox="demo.history"),
    ]  # fmt: skip


def consumer_of(runtime, fail_on: set[str] | None = None, retired=()):
    router = Router()
    runtime.subscribe(
        router, queue=QUEUE, event=MessageSent, routes=routes(fail_on), retired=retired
    )
    runtime.broker.include_router(router)
    return router.consumers[0]


async def applied(runtime) -> list[tuple[str, int]]:
    rows = await runtime.pool.fetch("SELECT event_id, txid FROM applied ORDER BY seq")
    return [(r["event_id"], r["txid"]) for r in rows]


async def test_each_route_that_wants_a_message_applies_it_in_one_transaction(runtime):
    consumer = consumer_of(runtime)
    ours, other, bare = sent(1), sent(2, "broadcast"), sent(3, None)
    assert consumer.bindings == ["message.sent.v1.notification", "message.sent.v1.#"]

    assert await consumer.deliver(ours) == ["applied"]
    assert await consumer.deliver(other, bare) == ["applied", "applied"]
    rows = await applied(runtime)
    assert [e for e, _ in rows] == [
        f"notes:{ours.id}",
        f"history:{ours.id}",
        f"history:{other.id}",
        f"history:{bare.id}",
    ]
    assert rows[0][1] == rows[1][1]  # both routes of one message: one transaction
    inbox = await runtime.pool.fetch("SELECT consumer, event_id FROM inbox")
    assert sorted((r["consumer"], r["event_id"]) for r in inbox) == sorted(
        [("demo.notes", ours.id), ("demo.history", ours.id),
         ("demo.history", other.id), ("demo.history", bare.id)]
    )  # fmt: skip


async def test_a_route_that_applied_a_message_before_is_skipped_and_the_others_apply_it(runtime):
    """Claims are per route: a message one route already took (through its old queue, during
    an upgrade) is applied by the others only."""
    consumer = consumer_of(runtime)
    half, whole = sent(4), sent(5)
    await runtime.pool.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES ('demo.notes', $1), ('demo.notes', $2),"
        " ('demo.history', $2)",
        half.id,
        whole.id,
    )
    assert await consumer.deliver(half, whole) == ["applied", "duplicate"]
    assert await consumer.deliver(whole) == ["duplicate"]
    assert [e for e, _ in await applied(runtime)] == [f"history:{half.id}"]


async def test_a_failing_route_takes_the_whole_message_back(runtime):
    """A message is applied by all its routes or by none: the error rolls back the other
    route's writes and every claim, so the redelivery applies it whole."""
    good, bad = sent(6), sent(7)
    consumer = consumer_of(runtime, fail_on={bad.id})
    assert await consumer.deliver(good, bad) == ["applied", "error"]
    assert [e for e, _ in await applied(runtime)] == [f"notes:{good.id}", f"history:{good.id}"]
    claimed = await runtime.pool.fetch("SELECT consumer FROM inbox WHERE event_id = $1", bad.id)
    assert claimed == []


async def test_a_routes_old_queue_is_unbound_drained_and_deleted(runtime, amqp_url, monkeypatch):
    monkeypatch.setattr(retiring, "CHECK_SECONDS", 0.1)
    waiting = sent(8)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        # The queue of one route before the upgrade, holding a message nobody applied yet.
        await declare_consumer_queue(channel, "demo.history", "message.sent.v1.#", delivery_limit=2)
        await publish_envelope(channel, waiting)

        consumer = consumer_of(runtime, retired=["demo.notes", "demo.history"])
        await runtime.start()
        after = sent(9)
        await publish_envelope(channel, after)

        async def both_applied() -> bool:
            found = {e for e, _ in await applied(runtime)}
            return {f"history:{waiting.id}", f"history:{after.id}"} <= found

        await eventually(both_applied, within=10.0)

        async def both_deleted() -> bool:
            return all(old.deleted.is_set() for old in consumer.retired)

        await eventually(both_deleted, within=10.0)
        probe = await connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await probe.declare_queue("demo.history", passive=True)
    rows = [e for e, _ in await applied(runtime)]
    assert sorted(rows) == sorted(
        [f"notes:{waiting.id}", f"history:{waiting.id}", f"notes:{after.id}", f"history:{after.id}"]
    )

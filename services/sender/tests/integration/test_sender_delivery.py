"""Deliveries end to end: bus -> sender -> emulator -> events, with real PG and RabbitMQ."""

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from opentelemetry import trace
from sender_harness import BOT_ID, TOKEN, Emulator, request

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import NotificationDue, UserStarted
from chime_kit import retiring
from chime_kit.broker import declare_consumer_queue
from chime_kit.testing import EventTap, eventually, publish_envelope
from chime_sender.domain.circuit import BreakerState
from chime_sender.entrypoints.consumers import POOL_USER_STARTED, USER_STARTED
from chime_sender.entrypoints.service import Sender

pytestmark = pytest.mark.integration


async def test_a_requested_message_is_sent_and_announced(
    emulator: Emulator, start_sender, tap: EventTap, spans
) -> None:
    await emulator.private_chat(42)
    sender: Sender = await start_sender(emulator)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("ingest request") as root:
        carrier = {
            "traceparent": f"00-{root.get_span_context().trace_id:032x}-"
            f"{root.get_span_context().span_id:016x}-01"
        }
        await tap.publish(request("d-1", 42, "hello <world>"), headers=carrier)

    [sent] = await tap.envelopes_of("message.sent.v1")
    [message] = await emulator.sent(42)
    assert message["text"] == "hello <world>"
    assert sent["data"]["delivery_id"] == "d-1"
    assert sent["data"]["telegram_message_id"] == message["message_id"]
    # One call; a send slot a busy machine missed would be one more take, with no call.
    assert sent["data"]["attempts"] >= 1

    [call] = [s for s in spans.get_finished_spans() if s.name == "telegram sendMessage"]
    assert call.context.trace_id == root.get_span_context().trace_id
    assert call.attributes["chime.service"] == "sender"
    assert call.attributes["chime.bot_id"] == BOT_ID
    assert call.attributes["chime.chat_id"] == 42
    # (The emulator's own server span names its URL path; Telegram's would not reach us.)
    ours = [s for s in spans.get_finished_spans() if s.attributes.get("chime.service") == "sender"]
    leaks = [(s.name, k) for s in ours for k, v in s.attributes.items() if TOKEN in str(v)]
    assert leaks == []
    assert sent["traceparent"].split("-")[1] == f"{root.get_span_context().trace_id:032x}"

    row = await sender.runtime.pool.fetchrow(
        "SELECT state, parts_sent FROM deliveries WHERE delivery_id = 'd-1'"
    )
    assert dict(row) == {"state": "sent", "parts_sent": 1}
    attempt = await sender.runtime.pool.fetchrow(
        "SELECT * FROM delivery_attempts WHERE outcome <> 'slot_missed'"
    )
    assert attempt["outcome"] == "sent"
    assert attempt["telegram_message_id"] == message["message_id"]


async def test_a_blocked_user_marks_the_chat_and_fails_permanently(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(43)
    await emulator.control(f"/bots/{BOT_ID}/block", {"user_id": 43})
    sender: Sender = await start_sender(emulator)
    await tap.publish(request("d-blocked", 43))

    [blocked] = await tap.envelopes_of("chat.blocked.v1")
    [failed] = await tap.envelopes_of("send.failed.v1")
    assert blocked["data"]["chat_id"] == 43
    assert failed["data"]["permanent"] is True
    assert failed["data"]["error_code"] == 403
    assert await sender.runtime.pool.fetchval(
        "SELECT blocked_at IS NOT NULL FROM chats WHERE bot_id = $1 AND chat_id = 43", BOT_ID
    )

    # The next delivery to that chat fails at once, without a call.
    calls = (await emulator.stats())["requests_per_method"].get("sendMessage", 0)
    await tap.publish(request("d-blocked-2", 43))
    failures = await tap.envelopes_of("send.failed.v1", count=2)
    assert failures[1]["data"]["reason"] == "chat blocked the bot"
    assert failures[1]["data"]["attempts"] == 0
    assert (await emulator.stats())["requests_per_method"]["sendMessage"] == calls
    assert tap.types().count("chat.blocked.v1") == 1


async def test_chat_not_found_fails_permanently(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await start_sender(emulator)
    await tap.publish(request("d-nochat", 999))
    [failed] = await tap.envelopes_of("send.failed.v1")
    assert failed["data"]["permanent"] is True
    assert failed["data"]["error_code"] == 400
    assert "chat not found" in failed["data"]["reason"]


async def test_an_unknown_bot_fails_without_a_call(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await start_sender(emulator)
    await tap.publish(request("d-nobot", 42, bot_id=777))
    [failed] = await tap.envelopes_of("send.failed.v1")
    assert failed["data"]["reason"] == "no token for bot"
    assert failed["data"]["permanent"] is True


async def test_server_errors_are_retried_until_delivered(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(44)
    await emulator.control(
        "/faults", {"mode": "error", "status": 502, "count": 2, "methods": ["sendMessage"]}
    )
    sender: Sender = await start_sender(emulator)
    await tap.publish(request("d-flaky", 44))
    [sent] = await tap.envelopes_of("message.sent.v1")
    assert sent["data"]["attempts"] >= 3  # a missed send slot is a take without a call
    assert len(await emulator.sent(44)) == 1
    outcomes = await sender.runtime.pool.fetch(
        "SELECT outcome, error_code FROM delivery_attempts"
        " WHERE outcome NOT IN ('slot_missed', 'postponed') ORDER BY attempt"
    )
    assert [(r["outcome"], r["error_code"]) for r in outcomes] == [
        ("transient", 502),
        ("transient", 502),
        ("sent", None),
    ]


async def test_no_answer_in_time_is_never_resent(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    """Telegram is slow: the call times out, yet the message arrives. Sending it again
    would deliver it twice, so the delivery ends as unknown."""
    await emulator.private_chat(49)
    await emulator.control(
        "/faults", {"mode": "slow", "delay_s": 1.0, "count": 1, "methods": ["sendMessage"]}
    )
    await start_sender(emulator, telegram_timeout_seconds=0.3)
    await tap.publish(request("d-slow", 49))
    [failed] = await tap.envelopes_of("send.failed.v1")
    assert failed["data"]["reason"].startswith("Telegram did not answer")
    assert failed["data"]["description"] == "timeout"

    async def arrived() -> bool:
        return len(await emulator.sent(49)) == 1

    await eventually(arrived, within=5.0)
    await asyncio.sleep(0.5)
    assert len(await emulator.sent(49)) == 1
    assert "message.sent.v1" not in tap.types()


async def test_with_resend_when_unsure_a_timeout_is_retried(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(50)
    await emulator.control(
        "/faults", {"mode": "timeout", "delay_s": 2.0, "count": 1, "methods": ["sendMessage"]}
    )
    await start_sender(emulator, telegram_timeout_seconds=0.6, resend_when_unsure=True)
    await tap.publish(request("d-retry", 50))
    [sent] = await tap.envelopes_of("message.sent.v1")
    # The faulted call timed out and was sent again; on a busy machine a later call may
    # also outlast the short timeout, so at least one retry rather than exactly one.
    assert sent["data"]["attempts"] >= 2
    assert len(await emulator.sent(50)) == 1


async def test_it_gives_up_after_max_attempts(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(45)
    await emulator.control("/faults", {"mode": "error", "status": 500, "methods": ["sendMessage"]})
    sender: Sender = await start_sender(emulator, max_attempts=3, breaker_failures=10)
    await tap.publish(request("d-down", 45))
    [failed] = await tap.envelopes_of("send.failed.v1")
    assert failed["data"]["permanent"] is False
    assert failed["data"]["reason"] == "gave up after 3 attempts"
    # Three failed calls; a send slot missed on a busy machine is one more take, no call.
    assert failed["data"]["attempts"] >= 3
    assert (await emulator.stats())["requests_per_method"]["sendMessage"] == 3
    assert await sender.runtime.pool.fetchval("SELECT state FROM deliveries") == "dead"


async def test_a_burst_to_one_chat_is_paced_and_does_not_hold_up_others(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(46)
    await emulator.private_chat(47)
    await start_sender(emulator)
    for i in range(3):
        await tap.publish(request(f"d-burst-{i}", 46, f"burst {i}"))
    await tap.publish(request("d-other", 47, "other"))

    await tap.envelopes_of("message.sent.v1", count=4, within=20)
    burst = await emulator.sent(46)
    assert [m["text"] for m in burst] == ["burst 0", "burst 1", "burst 2"]
    gaps = [b["sent_at"] - a["sent_at"] for a, b in itertools.pairwise(burst)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    [other] = await emulator.sent(47)
    assert other["sent_at"] - burst[0]["sent_at"] < 0.9  # not queued behind the burst
    assert (await emulator.stats())["rejected_429"] == 0


async def test_a_429_is_honoured_and_not_counted_as_a_failure(
    emulator_factory, start_sender, tap: EventTap
) -> None:
    # The emulator is stricter than the sender believes Telegram is, so it answers 429: by
    # far, so a loaded machine that delays the second call still makes it too soon.
    emulator: Emulator = await emulator_factory(private_chat_interval=5.0)
    await emulator.private_chat(48)
    sender: Sender = await start_sender(emulator, max_attempts=1)
    await tap.publish(request("d-a", 48, "first"))
    await tap.publish(request("d-b", 48, "second"))
    await tap.envelopes_of("message.sent.v1", count=2, within=20)
    messages = await emulator.sent(48)
    assert [m["text"] for m in messages] == ["first", "second"]
    assert messages[1]["sent_at"] - messages[0]["sent_at"] >= 5.0
    assert (await emulator.stats())["rejected_429"] >= 1
    row = await sender.runtime.pool.fetchrow(
        "SELECT failures, state FROM deliveries WHERE delivery_id = 'd-b'"
    )
    assert dict(row) == {"failures": 0, "state": "sent"}
    outcomes = await sender.runtime.pool.fetch(
        "SELECT outcome FROM delivery_attempts WHERE delivery_id = 'd-b' ORDER BY attempt"
    )
    assert outcomes[0]["outcome"] == "rate_limited"


async def test_the_same_delivery_twice_on_the_bus_is_sent_once(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(49)
    await start_sender(emulator)
    envelope = request("d-dup", 49)
    await tap.publish(envelope)
    await tap.publish(envelope)  # redelivered by the bus
    await tap.publish(request("d-dup", 49))  # a second event with the same delivery id
    await tap.envelopes_of("message.sent.v1")
    await asyncio.sleep(1.0)
    assert len(await emulator.sent(49)) == 1
    assert tap.types().count("message.sent.v1") == 1


async def test_a_long_message_is_sent_in_parts_in_order(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(50)
    sender: Sender = await start_sender(emulator)
    text = ("para " * 700).strip() + "\n\n" + ("next " * 300).strip()
    await tap.publish(request("d-long", 50, text))
    [sent] = await tap.envelopes_of("message.sent.v1", within=20)
    messages = await emulator.sent(50)
    assert len(messages) == 2
    assert sent["data"]["telegram_message_id"] == messages[0]["message_id"]
    assert messages[1]["text"].startswith("next")
    assert messages[1]["sent_at"] - messages[0]["sent_at"] >= 1.0
    assert await sender.runtime.pool.fetchval("SELECT parts_sent FROM deliveries") == 2


async def test_an_expired_lease_is_settled_unknown_and_never_resent(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(51)
    sender: Sender = await start_sender(emulator)
    past = datetime.now(UTC) - timedelta(minutes=5)
    async with sender.runtime.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO deliveries (delivery_id, bot_id, chat_id, text, origin, correlation_id,"
            " parts_total, state, attempts, lease_until, requested_at) VALUES"
            " ('d-crashed', $1, 51, 'hi', 'test', 'c-1', 1, 'sending', 1, $2, $2)",
            BOT_ID,
            past,
        )
        await conn.execute(
            "INSERT INTO delivery_attempts (delivery_id, attempt, part, started_at)"
            " VALUES ('d-crashed', 1, 1, $1)",
            past,
        )
    [failed] = await tap.envelopes_of("send.failed.v1")
    assert failed["data"]["reason"] == "outcome unknown after crash"
    assert failed["data"]["permanent"] is True
    assert failed["correlation_id"] == "c-1"

    async def settled() -> bool:
        state = await sender.runtime.pool.fetchval(
            "SELECT state FROM deliveries WHERE delivery_id = 'd-crashed'"
        )
        return bool(state == "unknown")

    await eventually(settled)
    assert await sender.runtime.pool.fetchval("SELECT outcome FROM delivery_attempts") == "unknown"
    await asyncio.sleep(0.5)
    assert await emulator.sent(51) == []


async def test_a_due_notification_is_delivered(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(52)
    await start_sender(emulator)
    now = datetime.now(UTC)
    due = NotificationDue(
        delivery_id="reminder:r-1",
        source="reminder",
        source_id="r-1",
        bot_id=BOT_ID,
        chat_id=52,
        text="⏰ stretch",
        due_at=now,
        fired_at=now,
    )
    await tap.publish(envelope_of(due, producer="scheduler"))
    [sent] = await tap.envelopes_of("message.sent.v1")
    assert sent["data"]["delivery_id"] == "reminder:r-1"
    assert [m["text"] for m in await emulator.sent(52)] == ["⏰ stretch"]


async def test_the_breaker_opens_while_telegram_is_down_and_recovers(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(53)
    await emulator.control("/faults", {"mode": "error", "status": 503, "methods": ["sendMessage"]})
    sender: Sender = await start_sender(
        emulator, breaker_failures=2, breaker_cooldown_seconds=0.5, max_attempts=20
    )
    breakers = sender.delivery.sending.local.breakers
    await tap.publish(request("d-outage", 53))

    async def opened() -> bool:
        return breakers.state(BOT_ID) is not BreakerState.CLOSED

    await eventually(opened)
    await emulator.client.delete("/_emulator/faults")
    [sent] = await tap.envelopes_of("message.sent.v1", within=20)
    assert sent["data"]["delivery_id"] == "d-outage"

    async def closed() -> bool:
        return breakers.state(BOT_ID) is BreakerState.CLOSED

    await eventually(closed)


async def test_one_queue_feeds_a_start_to_both_of_its_projections_and_drains_the_old_one(
    emulator: Emulator, start_sender, tap: EventTap, amqp_url: str, monkeypatch
) -> None:
    monkeypatch.setattr(retiring, "CHECK_SECONDS", 0.1)

    def started(chat_id: int) -> Envelope[Any]:
        return envelope_of(
            UserStarted(bot_id=BOT_ID, chat_id=chat_id, user_id=chat_id), producer="ingest"
        )

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        # The pools' own queue of before the upgrade, holding a /start nobody applied yet.
        await declare_consumer_queue(
            channel, POOL_USER_STARTED, "user.started.v1.#", delivery_limit=3
        )
        waiting = started(51)
        await publish_envelope(channel, waiting)

        sender: Sender = await start_sender(emulator)
        await tap.publish(started(52))
        pool = sender.runtime.pool

        async def both_projected() -> bool:
            starts = await pool.fetch("SELECT chat_id FROM bot_starts WHERE bot_id = $1", BOT_ID)
            claims = await pool.fetchval("SELECT count(*) FROM inbox")
            return {r["chat_id"] for r in starts} == {51, 52} and claims == 4

        await eventually(both_projected, within=10.0)
        consumers = await pool.fetch(
            "SELECT consumer, count(*) FROM inbox GROUP BY consumer ORDER BY consumer"
        )
        # Each /start applied once by each route, under the route's own inbox name: the new
        # one from the one queue, the one left behind drained from the old queue (in an
        # upgrade its copy in `sender.user-started` is then a duplicate for both routes).
        assert [tuple(r) for r in consumers] == [(POOL_USER_STARTED, 2), (USER_STARTED, 2)]

        async def retired() -> bool:
            probe = await connection.channel()
            try:
                await probe.declare_queue(POOL_USER_STARTED, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                return True
            return False

        await eventually(retired, within=10.0)

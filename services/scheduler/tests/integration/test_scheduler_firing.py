"""Reminders fire once each, on time, with several schedulers racing for them."""

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ReminderRequested
from chime_scheduler import handlers
from chime_scheduler.adapters.postgres import PostgresReminders
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def schedulers(database_url, amqp_url):
    settings = SchedulerSettings(database_url=database_url, amqp_url=amqp_url, fire_batch_size=50)
    built = [await create_service(settings) for _ in range(2)]
    yield built
    for scheduler in built:
        await scheduler.stop()


def request(n: int, due_at: datetime):
    return envelope_of(
        ReminderRequested(
            reminder_id=f"r{n}", bot_id=1, chat_id=n, user_id=n, text=f"t{n}", due_at=due_at,
            time_zone="UTC", phrase="in 1s",
        ),
        producer="test",
    )  # fmt: skip


async def test_schedule_is_idempotent_and_confirms_once(schedulers):
    runtime = schedulers[0].runtime
    envelope = request(1, datetime.now(UTC) + timedelta(hours=1))
    for _ in range(2):
        async with runtime.unit_of_work(envelope) as uow:
            await handlers.schedule_reminder(uow, PostgresReminders(uow.conn), envelope)
    assert await runtime.pool.fetchval("SELECT count(*) FROM reminders") == 1
    types = await runtime.pool.fetch("SELECT routing_key FROM outbox ORDER BY id")
    assert [r["routing_key"] for r in types] == ["reminder.scheduled.v1", "send.requested.v1"]


async def test_two_schedulers_fire_each_reminder_exactly_once(schedulers):
    runtime = schedulers[0].runtime
    due = datetime.now(UTC) + timedelta(seconds=2)
    async with runtime.unit_of_work() as uow:
        for n in range(300):
            await handlers.schedule_reminder(uow, PostgresReminders(uow.conn), request(n, due))
    await runtime.pool.execute("DELETE FROM outbox")
    seeded = datetime.now(UTC)

    early = sum(await asyncio.gather(*(s.firing.fire_once() for s in schedulers)))
    # Nothing fires before its time (a busy machine may have taken that long to seed).
    assert early == 0 or datetime.now(UTC) >= due
    await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 0.05)

    fired = await asyncio.gather(*(s.firing.fire_until_idle() for s in schedulers))
    assert early + sum(fired) == 300
    rows = await runtime.pool.fetch(
        "SELECT routing_key, count(*) AS n FROM outbox GROUP BY routing_key"
    )
    assert {r["routing_key"]: r["n"] for r in rows} == {"send.requested.v1": 300}
    early_or_late = await runtime.pool.fetchrow(
        "SELECT min(extract(epoch FROM fired_at - due_at)) AS early,"
        " max(extract(epoch FROM fired_at - due_at)) AS late FROM reminders"
    )
    assert early_or_late["early"] >= 0  # none before its time
    # On time: within a second of due, or of when the (busy) machine finished seeding.
    assert early_or_late["late"] < 1.0 + max(0.0, (seeded - due).total_seconds())


async def test_fired_notification_keeps_the_request_correlation(schedulers):
    runtime = schedulers[0].runtime
    envelope = request(9, datetime.now(UTC) - timedelta(seconds=1))
    async with runtime.unit_of_work(envelope) as uow:
        await handlers.schedule_reminder(uow, PostgresReminders(uow.conn), envelope)
    assert await schedulers[0].firing.fire_once() == 1
    body = await runtime.pool.fetchval(
        "SELECT body FROM outbox WHERE routing_key = 'send.requested.v1'"
        " AND convert_from(body, 'UTF8')::jsonb #>> '{data,source,kind}' = 'reminder'"
    )
    fired = orjson.loads(body)
    assert fired["correlation_id"] == envelope.correlation_id
    assert fired["data"]["delivery_id"] == "reminder:r9"
    assert fired["data"]["source"] == {"kind": "reminder", "id": "r9"}
    assert fired["data"]["buttons"][-1][0]["callback_data"] == "snooze:15m"

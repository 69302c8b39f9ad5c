"""The scheduler's subscriber wiring, driven in process (no broker) with a real database."""

from datetime import UTC, datetime, timedelta

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ReminderRequested
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

pytestmark = pytest.mark.broker


async def test_a_reminder_request_on_the_bus_is_stored_once(database_url):
    scheduler = await create_service(SchedulerSettings(database_url=database_url))
    request = envelope_of(
        ReminderRequested(
            reminder_id="b1", bot_id=1, chat_id=2, user_id=2, text="tea",
            due_at=datetime.now(UTC) + timedelta(hours=1), time_zone="UTC", phrase="in 1h",
        ),
        producer="test",
    )  # fmt: skip
    try:
        queue = "scheduler.reminder-requested"
        outcomes = [await scheduler.runtime.broker.deliver(request) for _ in range(2)]
        assert outcomes == [{queue: ["applied"]}, {queue: ["duplicate"]}]
        pool = scheduler.runtime.pool
        assert await pool.fetchval("SELECT text FROM reminders WHERE id = 'b1'") == "tea"
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 1
        routed = await pool.fetch("SELECT routing_key FROM outbox ORDER BY id")
        assert [r["routing_key"] for r in routed] == ["reminder.scheduled.v1", "send.requested.v1"]
    finally:
        await scheduler.runtime.pool.close()

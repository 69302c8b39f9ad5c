"""A database written before reminders had streams of their own upgrades: what is still to
fire fires once, at the right stream version, and survives a rebuild."""

from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import NotificationDue, ReminderScheduled
from chime_kit.testing import migrate_as_before, table_rows
from chime_scheduler.__main__ import CLI
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

pytestmark = pytest.mark.integration


async def write_as_before(conn: asyncpg.Connection) -> None:
    """The schema before 0002, with one reminder still to fire and one fired, as written then."""
    await migrate_as_before(conn, "scheduler", "chime_scheduler.migrations", "0002")
    due = datetime.now(UTC) - timedelta(seconds=1)
    for rid, state in (("old1", "scheduled"), ("old2", "fired")):
        await conn.execute(
            "INSERT INTO reminders (id, bot_id, chat_id, user_id, text, due_at, time_zone, state,"
            " correlation_id, traceparent)"
            " VALUES ($1, 1, 2, 2, 'tea', $2, 'UTC', $3, 'c-' || $1, NULL)",
            rid, due, state,
        )  # fmt: skip
        events = [ReminderScheduled(reminder_id=rid, bot_id=1, chat_id=2, due_at=due)]
        if state == "fired":
            events.append(NotificationDue(
                delivery_id=f"reminder:{rid}", source="reminder", source_id=rid, bot_id=1,
                chat_id=2, text="⏰ tea", due_at=due, fired_at=due,
            ))  # fmt: skip
        for version, event in enumerate(events, start=1):
            envelope = envelope_of(event, producer="scheduler")
            await conn.execute(
                "INSERT INTO events (stream_id, version, event_id, type, envelope)"
                " VALUES ($1, $2, $3, $4, $5::jsonb)",
                f"reminder-{rid}", version, envelope.id, envelope.type,
                orjson.dumps(envelope.model_dump(mode="json")).decode(),
            )  # fmt: skip


async def test_an_upgraded_database_fires_what_was_scheduled_and_rebuilds_it(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await write_as_before(conn)
    finally:
        await conn.close()
    scheduler = await create_service(SchedulerSettings(database_url=database_url))  # migrates
    pool = scheduler.runtime.pool
    try:
        assert await scheduler.firing.fire_once() == 1
        streams = await pool.fetch(
            "SELECT stream_id, array_agg(type ORDER BY version) AS types FROM events"
            " GROUP BY stream_id ORDER BY stream_id"
        )
        assert [(r["stream_id"], r["types"]) for r in streams] == [
            ("reminder-old1", ["reminder.scheduled.v1", "reminder.requested.v1",
                               "reminder.scheduled.v1", "send.requested.v1"]),
            ("reminder-old2", ["reminder.scheduled.v1", "notification.due.v1"]),
        ]  # fmt: skip
        live = await table_rows(pool, "reminders")
        await CLI.rebuild(database_url)
        # The one still to fire was recorded in full; one fired before has only its history.
        assert await table_rows(pool, "reminders") == [r for r in live if '"old2"' not in r]
    finally:
        await pool.close()

"""What the scheduler does on each event, and when time passes. No framework imports."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry import trace

from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    NotificationDue,
    ReminderRequested,
    ReminderScheduled,
    SendRequested,
)
from chime_kit.telemetry import context_from_traceparent, current_traceparent, mark_service
from chime_kit.unit_of_work import UnitOfWork
from chime_scheduler.adapters.postgres import ReminderRepository
from chime_scheduler.domain.reminders import (
    Reminder,
    confirmation_text,
    delivery_id,
    reminder_text,
)

tracer = trace.get_tracer("chime.scheduler")


async def schedule_reminder(uow: UnitOfWork, envelope: Envelope[ReminderRequested]) -> None:
    request = envelope.data
    reminder = Reminder(
        id=request.reminder_id,
        bot_id=request.bot_id,
        chat_id=request.chat_id,
        text=request.text,
        due_at=request.due_at,
        time_zone=request.time_zone,
        correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0],
    )
    if not await ReminderRepository(uow.conn).add(reminder, request.user_id):
        return
    await uow.record(
        f"reminder-{reminder.id}",
        0,
        ReminderScheduled(
            reminder_id=reminder.id,
            bot_id=reminder.bot_id,
            chat_id=reminder.chat_id,
            due_at=reminder.due_at,
        ),
    )
    await uow.emit(
        SendRequested(
            delivery_id=f"{delivery_id(reminder.id)}:confirmation",
            bot_id=reminder.bot_id,
            chat_id=reminder.chat_id,
            text=confirmation_text(
                reminder.text, reminder.due_at, reminder.time_zone, datetime.now(UTC)
            ),
            origin="scheduler.confirmation",
        )
    )


async def fire_due_reminders(uow: UnitOfWork, now: datetime, limit: int) -> list[Reminder]:
    """Fire what is due, once: the claim and the events commit in one transaction."""
    reminders = await ReminderRepository(uow.conn).claim_due(now, limit)
    for reminder in reminders:
        # The firing joins the trace of the request that created the reminder.
        with tracer.start_as_current_span(
            "fire reminder", context=context_from_traceparent(reminder.traceparent)
        ) as span:
            mark_service(span, "scheduler")
            span.set_attribute("chime.reminder_id", reminder.id)
            await uow.record(
                f"reminder-{reminder.id}",
                1,
                NotificationDue(
                    delivery_id=delivery_id(reminder.id),
                    source="reminder",
                    source_id=reminder.id,
                    bot_id=reminder.bot_id,
                    chat_id=reminder.chat_id,
                    text=reminder_text(reminder.text),
                    due_at=reminder.due_at,
                    fired_at=now,
                ),
                correlation_id=reminder.correlation_id,
            )
    return reminders

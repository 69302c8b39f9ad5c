"""Reminders and snoozes: one-shot, from the reminders due index."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry import trace

from chime_contracts.envelope import Envelope
from chime_contracts.events import ReminderRequested, SnoozeRequested
from chime_kit.event_store import Append
from chime_kit.streams import Work, decide
from chime_kit.telemetry import linked_span, mark_service
from chime_scheduler.domain import messages, reminders
from chime_scheduler.domain.reminders import REMINDER, Reminder, confirmation_text
from chime_scheduler.ports import Reminders

tracer = trace.get_tracer("chime.scheduler")


async def schedule_reminder(
    uow: Work, projection: Reminders, envelope: Envelope[ReminderRequested]
) -> None:
    """Record the request and its schedule in the reminder's stream, once, and confirm."""
    request = envelope.data
    decided = await decide(
        uow,
        reminders.stream_id(request.reminder_id),
        REMINDER,
        lambda state: reminders.schedule(state, envelope),
        project=projection.apply,
    )
    if not decided.recorded:
        return
    text = confirmation_text(
        request.text, request.due_at, request.time_zone, datetime.now(UTC), request.language
    )
    await uow.emit(messages.to_chat(request.bot_id, request.chat_id, request.reminder_id, text))


async def schedule_snooze(
    uow: Work, projection: Reminders, envelope: Envelope[SnoozeRequested]
) -> None:
    """A snooze is a one-shot of its own (ingest already told the chat until when)."""
    await decide(
        uow,
        reminders.stream_id(reminders.SNOOZE + envelope.data.snooze_id),
        REMINDER,
        lambda state: reminders.snooze(state, envelope),
        project=projection.apply,
    )


async def fire_due_reminders(
    uow: Work, projection: Reminders, now: datetime, limit: int
) -> list[Reminder]:
    """Fire what is due, once: the claim, the streams' appends and the outbox rows commit in
    one transaction. The claim is taken from the due index (the projection, kept in step
    with the streams in the same transactions) rather than by loading each stream; the
    append at the claimed version still fails the batch if a stream moved on regardless."""
    claimed = await projection.claim_due(now, limit)
    appends = []
    for reminder in claimed:
        # The firing starts a trace of its own, linked to the request's span: a child would
        # make the request's trace as long as the wait.
        with linked_span(tracer, "fire reminder", reminder.traceparent) as span:
            mark_service(span, "scheduler")
            span.set_attribute("chime.reminder_id", reminder.id)
            fired = uow.wrap(reminders.fire(reminder), reminder.correlation_id)
        # The claim stamped the row fired at `now`; the event says the same, so a rebuild
        # folds the row it left.
        fired = fired.model_copy(update={"occurred_at": now})
        appends.append(Append(reminders.stream_id(reminder.id), reminder.version - 1, [fired]))
    await uow.append(appends)
    await uow.publish([e for a in appends for e in a.envelopes])
    return claimed

"""Schedule requests and changes from chats and the api (and /cancel of a one-shot
reminder), and /list and /topics."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    ListingRequested,
    MessageEditRequested,
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleRejected,
    ScheduleRequested,
)
from chime_contracts.events.schedules import ScheduleOwner
from chime_contracts.events.shared import InlineButton
from chime_kit.streams import Work, decide
from chime_scheduler.domain import reminders, schedules
from chime_scheduler.domain.messages import chat_of, to_chat
from chime_scheduler.domain.reminders import REMINDER
from chime_scheduler.domain.schedules import SCHEDULE
from chime_scheduler.domain.texts import say
from chime_scheduler.ports import Listed, Store
from chime_schedules import next_line, when_text

PAGE_SIZE = 10


async def request_schedule(uow: Work, store: Store, envelope: Envelope[ScheduleRequested]) -> None:
    """Create the schedule once (or reject it) and confirm to its chat, in its language."""
    asked = envelope.data
    number = await store.schedules.next_number(asked.owner)
    decided = await decide(
        uow, schedules.stream_id(asked.schedule_id), SCHEDULE,
        lambda state: schedules.create(state, envelope, number), project=store.schedules.apply,
    )  # fmt: skip
    if not decided.recorded:
        return
    result = decided.recorded[-1].envelope.data
    chat = chat_of(asked.owner)
    if chat is None:
        return
    if isinstance(result, ScheduleCreated):
        key = "created_topic" if result.topic else "created"
        text = say(
            key, asked.language, number=result.number, text=result.message.text,
            topic=result.topic, next=next_line(result.next_at, result.time_zone, asked.language),
        )  # fmt: skip
    else:
        assert isinstance(result, ScheduleRejected)
        text = say("rejected", asked.language, reason=result.reason)
    await uow.emit(to_chat(*chat, asked.schedule_id, text))


async def change_schedule(
    uow: Work, store: Store, envelope: Envelope[ScheduleChangeRequested]
) -> None:
    """Pause, resume, cancel or update the schedule its owner named (`#12` or its id), or
    cancel the chat's one-shot reminder named by its id (as /list shows it)."""
    asked = envelope.data
    chat = chat_of(asked.owner)
    language = await store.chats.language(*chat) if chat else None
    schedule_id = await store.schedules.resolve(asked.owner, asked.schedule_id)
    reminder_id = None
    if schedule_id is None and chat is not None:
        reminder_id = await store.reminders.resolve(*chat, asked.schedule_id)
    if reminder_id is not None:
        assert chat is not None
        await _change_reminder(uow, store, envelope, reminder_id, chat, language)
        return
    if schedule_id is None:
        result: ScheduleChanged | ScheduleRejected = ScheduleRejected(
            request_id=asked.change_id, schedule_ref=asked.schedule_id, owner=asked.owner,
            action=asked.action, reason=say("no_schedule", language, ref=asked.schedule_id),
        )  # fmt: skip
        await uow.emit(result)
        number = 0
        time_zone = "UTC"
    else:
        now = datetime.now(UTC)
        decided = await decide(
            uow, schedules.stream_id(schedule_id), SCHEDULE,
            lambda state: schedules.change(state, envelope, schedule_id, now),
            project=store.schedules.apply,
        )  # fmt: skip
        if not decided.recorded:
            return
        last = decided.recorded[-1].envelope.data
        assert isinstance(last, ScheduleChanged | ScheduleRejected)
        result, number, time_zone = last, decided.after.number, decided.after.time_zone
    if chat is None:
        return
    if isinstance(result, ScheduleRejected):
        text = say(
            "change_rejected", language, action=asked.action, ref=asked.schedule_id,
            reason=result.reason,
        )  # fmt: skip
    else:
        text = say(
            result.action, language, number=number,
            next=next_line(result.next_at, time_zone, language),
        )  # fmt: skip
    await uow.emit(to_chat(*chat, asked.change_id, text))


async def _change_reminder(
    uow: Work, store: Store, envelope: Envelope[ScheduleChangeRequested], reminder_id: str,
    chat: tuple[int, int], language: str | None,
) -> None:  # fmt: skip
    """Cancel a reminder still to fire: the request kept in its stream, the due index row
    cancelled in the same transaction (it never fires); a reason otherwise."""
    asked = envelope.data
    decided = await decide(
        uow, reminders.stream_id(reminder_id), REMINDER,
        lambda state: reminders.cancel(state, envelope), project=store.reminders.apply,
    )  # fmt: skip
    if decided.recorded:
        text = say("reminder_cancelled", language, ref=asked.schedule_id)
    elif asked.change_id in decided.after.changes:
        return  # seen before: answered then
    else:
        reason = reminders.cancel_refusal(decided.after, asked.action) or ""
        await uow.emit(ScheduleRejected(
            request_id=asked.change_id, schedule_ref=asked.schedule_id, owner=asked.owner,
            action=asked.action, reason=reason,
        ))  # fmt: skip
        text = say("change_rejected", language, action=asked.action, ref=asked.schedule_id,
                   reason=reason)  # fmt: skip
    await uow.emit(to_chat(*chat, asked.change_id, text))


def _line(item: Listed, time_zone: str, language: str | None) -> str:
    when = when_text(item.next_at, time_zone, language) if item.next_at else "—"
    mark = f" {say('paused_mark', language)}" if item.status == "paused" else ""
    target = f" → {item.topic}" if item.topic else ""
    label = f"⏰ {item.reminder_id}" if item.number is None else f"#{item.number}"
    return f"{label} {when}{mark}{target}: {item.text}"


async def answer_listing(uow: Work, store: Store, envelope: Envelope[ListingRequested]) -> None:
    """/list and /topics, a page at a time with buttons; a page button edits the message."""
    asked = envelope.data
    lang = asked.language
    if asked.what == "schedules":
        owner = ScheduleOwner(kind="chat", id=f"{asked.bot_id}:{asked.chat_id}")
        items, total = await store.schedules.page(owner, asked.page, PAGE_SIZE)
        lines = [_line(i, asked.time_zone, lang) for i in items]
    else:
        lines, total = await store.subscriptions.topics_of(
            asked.bot_id, asked.chat_id, asked.page, PAGE_SIZE
        )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if not total:
        text = say("list_empty" if asked.what == "schedules" else "topics_empty", lang)
    else:
        title = say("list_title" if asked.what == "schedules" else "topics_title", lang,
                    page=asked.page, pages=pages)  # fmt: skip
        text = "\n".join([title, *lines])
    nav = []
    if asked.page > 1:
        back = f"list:{asked.what}:{min(asked.page - 1, pages)}"
        nav.append(InlineButton(text=say("back", lang), callback_data=back))
    if asked.page < pages:
        more = f"list:{asked.what}:{asked.page + 1}"
        nav.append(InlineButton(text=say("more", lang), callback_data=more))
    if asked.edit_message_id is not None:
        await uow.emit(MessageEditRequested(
            edit_id=f"listing:{asked.request_id}", bot_id=asked.bot_id, chat_id=asked.chat_id,
            message_id=asked.edit_message_id, text=text, buttons=[nav] if nav else [],
        ))  # fmt: skip
        return
    reply = to_chat(asked.bot_id, asked.chat_id, asked.request_id, text, kind="reply",
                    buttons=[nav] if nav else None)  # fmt: skip
    if asked.reply_to_message_id is not None:
        reply = reply.model_copy(update={"reply_to_message_id": asked.reply_to_message_id})
    await uow.emit(reply)

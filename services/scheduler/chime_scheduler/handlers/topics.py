"""Subscriptions, broadcasts requested by the api, and the outcomes of their deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastRequested,
    MessageSent,
    ScheduleRejected,
    SendFailed,
    SubscriptionRequested,
)
from chime_kit.streams import Work, decide
from chime_scheduler.domain import broadcasts, subscriptions
from chime_scheduler.domain.broadcasts import BROADCAST, BroadcastState
from chime_scheduler.domain.messages import chat_of, to_chat
from chime_scheduler.domain.subscriptions import SUBSCRIPTION
from chime_scheduler.domain.texts import say
from chime_scheduler.ports import Store


async def subscribe(uow: Work, store: Store, envelope: Envelope[SubscriptionRequested]) -> None:
    """Subscribe or unsubscribe, idempotently; a chat that asked is told either way."""
    asked, now = envelope.data, datetime.now(UTC)
    want = asked.action == "subscribe"
    decided = await decide(
        uow, subscriptions.stream_id(asked.bot_id, asked.topic, asked.chat_id), SUBSCRIPTION,
        lambda on: subscriptions.set_to(on, asked.bot_id, asked.chat_id, asked.topic, want, now),
        project=store.subscriptions.apply,
    )  # fmt: skip
    if asked.requested_by.kind != "chat":
        return
    language = await store.chats.language(asked.bot_id, asked.chat_id)
    if decided.recorded:
        key = "subscribed" if want else "unsubscribed"
    else:
        key = "already_subscribed" if want else "not_subscribed"
    text = say(key, language, topic=asked.topic)
    await uow.emit(to_chat(asked.bot_id, asked.chat_id, envelope.id, text))


async def request_broadcast(
    uow: Work, store: Store, envelope: Envelope[BroadcastRequested]
) -> None:
    """Keep the request: the firing loop starts it when its time comes (now, if none)."""
    await decide(
        uow, broadcasts.stream_id(envelope.data.broadcast_id), BROADCAST,
        lambda state: [envelope] if state.status == "new" else [],
        project=store.broadcasts.apply,
    )  # fmt: skip


async def cancel_broadcast(
    uow: Work, store: Store, envelope: Envelope[BroadcastCancelRequested]
) -> None:
    """Cancel a broadcast not yet over: a timed one before its start, or one sending, whose
    slices not yet handed to the sender are dropped; `broadcast.finished.v1` (cancelled)
    counts what was handed. One already over, or unknown, is refused with the reason."""
    asked, now = envelope.data, datetime.now(UTC)
    broadcast_id = asked.broadcast_id
    not_handed = await store.broadcasts.drop_slices(broadcast_id)
    sent, failed = await store.broadcasts.outcomes(broadcast_id)
    refused: list[str] = []

    def cancel(state: BroadcastState) -> list[Any]:
        decided = broadcasts.cancel(state, broadcast_id, not_handed, sent, failed, now)
        if not decided:
            refused.append(state.status)
            return []
        return [envelope, *decided]

    await decide(
        uow, broadcasts.stream_id(broadcast_id), BROADCAST, cancel,
        project=store.broadcasts.apply,
    )  # fmt: skip
    if not refused:
        return
    chat = chat_of(asked.owner)
    language = await store.chats.language(*chat) if chat else None
    reason = say(f"broadcast_{refused[0]}", language, ref=broadcast_id)
    await uow.emit(ScheduleRejected(
        request_id=envelope.id, schedule_ref=broadcast_id, owner=asked.owner, action="cancel",
        reason=reason,
    ))  # fmt: skip
    if chat:
        text = say("change_rejected", language, action="cancel", ref=broadcast_id, reason=reason)
        await uow.emit(to_chat(*chat, envelope.id, text))


async def count_sent(uow: Work, store: Store, envelope: Envelope[MessageSent]) -> None:
    await count_outcome(uow, store, envelope.data)


async def count_failed(uow: Work, store: Store, envelope: Envelope[SendFailed]) -> None:
    await count_outcome(uow, store, envelope.data)


async def count_outcome(uow: Work, store: Store, outcome: MessageSent | SendFailed) -> None:
    """Tally a broadcast delivery's outcome; record progress now and then, and the end."""
    if outcome.source is None or outcome.source.kind != "broadcast":
        return
    broadcast_id = outcome.source.id
    sent = isinstance(outcome, MessageSent)
    totals = await store.broadcasts.tally({broadcast_id: (int(sent), int(not sent))})
    done_sent, done_failed, reported, handed = totals[broadcast_id]
    done = done_sent + done_failed
    if done < handed and done - reported < max(100, handed // 20):
        return
    now = datetime.now(UTC)
    decided = await decide(
        uow, broadcasts.stream_id(broadcast_id), BROADCAST,
        lambda state: broadcasts.report(state, broadcast_id, done_sent, done_failed, reported, now),
        project=store.broadcasts.apply,
    )  # fmt: skip
    if decided.recorded:
        await store.broadcasts.reported(broadcast_id, done)

"""Broadcasts to a topic: who gets them, in what slices, and when they will be done.

A broadcast's stream `broadcast-<id>` holds the request (kept as received) when it came
from the api, `broadcast.started.v1` when its time came, `broadcast.progress.v1` now and
then, and `broadcast.finished.v1`. A schedule aimed at a topic starts one at each
occurrence (id `<schedule>@<unix time>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from chime_contracts.envelope import Event
from chime_contracts.events import (
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRecipientsSkipped,
    BroadcastRequested,
    BroadcastStarted,
    SendBatchRequested,
)
from chime_contracts.events.scheduler import SkipReason
from chime_contracts.events.schedules import MessageTemplate
from chime_contracts.events.shared import SendSource
from chime_kit.streams import Aggregate

# One bus message per slice of recipients (the contract's most).
SLICE = 5000
# Telegram lets a bot send about 30 messages a second to different chats, 1000 with paid
# broadcasts; a broadcast cannot finish sooner than that.
PER_SECOND, PAID_PER_SECOND = 30, 1000
# The sender is handed at most this much sending ahead (at Telegram's rate); later slices
# wait here, so a cancel stops them.
HAND_AHEAD = timedelta(hours=1)

Status = Literal["new", "scheduled", "sending", "finished", "cancelled"]


@dataclass(frozen=True)
class BroadcastState:
    status: Status = "new"
    handed: int = 0
    skipped: int = 0
    sent: int = 0
    failed: int = 0


def evolve(state: BroadcastState, event: Event) -> BroadcastState:
    if isinstance(event, BroadcastRequested):
        return replace(state, status="scheduled")
    if isinstance(event, BroadcastStarted):
        return replace(state, status="sending", handed=event.recipients, skipped=event.skipped)
    if isinstance(event, BroadcastProgressed):
        return replace(state, sent=event.sent, failed=event.failed)
    if isinstance(event, BroadcastFinished):
        return replace(
            state, status="cancelled" if event.cancelled else "finished", sent=event.sent,
            failed=event.failed,
        )  # fmt: skip
    return state


BROADCAST = Aggregate(BroadcastState(), evolve)


def stream_id(broadcast_id: str) -> str:
    return f"broadcast-{broadcast_id}"


def estimated_finish(start: datetime, recipients: int, paid: bool) -> datetime:
    rate = PAID_PER_SECOND if paid else PER_SECOND
    return start + timedelta(seconds=recipients / rate)


def hand_at(start: datetime, n: int, paid: bool) -> datetime:
    """When slice `n` goes to the sender: once the slices before it are within `HAND_AHEAD`
    of being sent."""
    rate = PAID_PER_SECOND if paid else PER_SECOND
    return start + max(timedelta(0), timedelta(seconds=n * SLICE / rate) - HAND_AHEAD)


def cancel(
    state: BroadcastState, broadcast_id: str, not_handed: int, sent: int, failed: int,
    now: datetime,
) -> list[Event]:  # fmt: skip
    """Cancel a broadcast not yet over: what was handed to the sender is counted, the rest
    (`not_handed`, dropped) is not sent. Nothing for one already over."""
    if state.status not in ("scheduled", "sending"):
        return []
    return [BroadcastFinished(
        broadcast_id=broadcast_id, handed=max(0, state.handed - not_handed), sent=sent,
        failed=failed, skipped=state.skipped, cancelled=True, finished_at=now,
    )]  # fmt: skip


def slices(
    broadcast_id: str, bot_id: int, chat_ids: Sequence[int], message: MessageTemplate,
    paid: bool, scheduled_for: datetime,
) -> list[SendBatchRequested]:  # fmt: skip
    """The recipients in slices of `SLICE`, each one bus message for the sender."""
    source = SendSource(kind="broadcast", id=broadcast_id)
    return [
        SendBatchRequested(
            batch_id=f"{broadcast_id}:{n}",
            bot_id=bot_id,
            chat_ids=list(chat_ids[i : i + SLICE]),
            text=message.text,
            parse_mode=message.parse_mode,
            source=source,
            variables=message.variables,
            buttons=message.buttons,
            media=message.media,
            disable_notification=message.disable_notification,
            paid_broadcast=paid,
            scheduled_for=scheduled_for,
        )
        for n, i in enumerate(range(0, len(chat_ids), SLICE))
    ]


def skipped_slices(
    broadcast_id: str, bot_id: int, skipped: Sequence[tuple[int, SkipReason]], now: datetime
) -> list[BroadcastRecipientsSkipped]:
    """The subscribers left out, named: by reason, in slices of `SLICE`."""
    by_reason: dict[SkipReason, list[int]] = {}
    for chat_id, reason in skipped:
        by_reason.setdefault(reason, []).append(chat_id)
    pieces = [
        (reason, chats[i : i + SLICE])
        for reason, chats in sorted(by_reason.items())
        for i in range(0, len(chats), SLICE)
    ]
    return [
        BroadcastRecipientsSkipped(
            slice_id=f"{broadcast_id}:skipped:{n}",
            broadcast_id=broadcast_id,
            bot_id=bot_id,
            reason=reason,
            chat_ids=chats,
            skipped_at=now,
        )
        for n, (reason, chats) in enumerate(pieces)
    ]


def report(
    state: BroadcastState, broadcast_id: str, sent: int, failed: int, reported: int,
    now: datetime,
) -> list[Event]:  # fmt: skip
    """Progress every twentieth of the way (at least every 100), and the end."""
    done = sent + failed
    if state.status != "sending" or done <= reported:
        return []
    counts = {"handed": state.handed, "sent": sent, "failed": failed, "skipped": state.skipped}
    if done >= state.handed:
        return [BroadcastFinished(broadcast_id=broadcast_id, finished_at=now, **counts)]
    if done - reported < max(100, state.handed // 20):
        return []
    left = estimated_finish(now, state.handed - done, paid=False)
    return [BroadcastProgressed(broadcast_id=broadcast_id, estimated_finish_at=left, **counts)]

"""Each recipient of a broadcast: pending once its slice is handed to the sender, then the
sender's outcome (routed `<type>.broadcast`, its source naming the broadcast).

A slice is kept once in `slice-<batch id>`; a recipient's outcome in
`recipient-<broadcast id>:<chat id>`, the first one only (a redelivery or a late contrary
one changes nothing). An outcome may come before its slice: the row starts from either.

`skipped`: the chats the scheduler leaves out when a broadcast starts (they blocked the bot
or stopped), named in `broadcast.recipients.skipped.v1` slices, each kept once in
`skipped-<slice id>`, the reason on each row. A skipped chat is in no slice and gets no
outcome; were both to come anyway, in any order, the row is the same: an outcome wins over
`skipped`, `skipped` over `pending`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageSent,
    SendBatchRequested,
    SendFailed,
)

RecipientStatus = Literal["pending", "sent", "failed", "blocked", "skipped"]
RECIPIENT_STATUSES: tuple[RecipientStatus, ...] = (
    "pending",
    "sent",
    "failed",
    "blocked",
    "skipped",
)
SOURCE_KIND = "broadcast"
FORBIDDEN = 403  # Telegram's answer when the chat blocked the bot or removed it


@dataclass(frozen=True)
class Recipient:
    broadcast_id: str
    chat_id: int
    bot_id: int
    status: RecipientStatus
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    error_code: int | None = None
    delivery_id: str | None = None
    telegram_message_id: int | None = None


def slice_stream(batch_id: str) -> str:
    return f"slice-{batch_id}"


def skipped_stream(slice_id: str) -> str:
    return f"skipped-{slice_id}"


def recipient_stream(broadcast_id: str, chat_id: int) -> str:
    return f"recipient-{broadcast_id}:{chat_id}"


def broadcast_of(event: SendBatchRequested | MessageSent | SendFailed) -> str | None:
    """The broadcast a slice or an outcome belongs to, if it belongs to one."""
    source = event.source
    return source.id if source is not None and source.kind == SOURCE_KIND else None


def status_of(outcome: MessageSent | SendFailed) -> RecipientStatus:
    if isinstance(outcome, MessageSent):
        return "sent"
    if outcome.permanent and outcome.error_code == FORBIDDEN:
        return "blocked"
    return "failed"


def replaces(new: RecipientStatus, known: RecipientStatus) -> bool:
    """Whether a row of status `new` replaces a known one: an outcome does (there is one per
    recipient), a skip replaces only a pending row, a pending row nothing."""
    if new == "pending":
        return False
    if new == "skipped":
        return known == "pending"
    return True


def keep_first(kept: int, envelope: Envelope[Any]) -> list[Envelope[Any]]:
    """A stream of one: the first outcome (or slice) is kept as it came, later ones not."""
    return [] if kept else [envelope]


def outcome_row(broadcast_id: str, outcome: MessageSent | SendFailed) -> Recipient:
    at = outcome.sent_at if isinstance(outcome, MessageSent) else outcome.failed_at
    if isinstance(outcome, MessageSent):
        return Recipient(
            broadcast_id, outcome.chat_id, outcome.bot_id, "sent", at, at,
            delivery_id=outcome.delivery_id, telegram_message_id=outcome.telegram_message_id,
        )  # fmt: skip
    reason = outcome.reason
    if outcome.description and outcome.description != reason:
        reason = f"{reason}: {outcome.description}"
    return Recipient(
        broadcast_id, outcome.chat_id, outcome.bot_id, status_of(outcome), at, at,
        reason=reason, error_code=outcome.error_code, delivery_id=outcome.delivery_id,
    )  # fmt: skip


def pending_rows(broadcast_id: str, batch: SendBatchRequested, at: datetime) -> list[Recipient]:
    return [
        Recipient(broadcast_id, chat_id, batch.bot_id, "pending", at, at)
        for chat_id in batch.chat_ids
    ]


def skipped_rows(skipped: BroadcastRecipientsSkipped, at: datetime) -> list[Recipient]:
    return [
        Recipient(skipped.broadcast_id, chat_id, skipped.bot_id, "skipped", at, at,
                  reason=skipped.reason)
        for chat_id in skipped.chat_ids
    ]  # fmt: skip

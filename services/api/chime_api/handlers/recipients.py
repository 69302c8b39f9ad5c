"""Recipients of the api's broadcasts: the slices handed to the sender, the chats skipped at
the start and each recipient's outcome, kept in their streams (once) and projected at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chime_api.domain.recipients import (
    Recipient,
    RecipientStatus,
    broadcast_of,
    keep_first,
    recipient_stream,
    skipped_stream,
    slice_stream,
)
from chime_api.ports import Recipients
from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageSent,
    SendBatchRequested,
    SendFailed,
)
from chime_kit.streams import Aggregate, Work, decide

_COUNT: Aggregate[int] = Aggregate(0, lambda n, _: n + 1)


async def record_slice(work: Work, recipients: Recipients, envelope: Envelope[Any]) -> None:
    """A slice of one of the api's broadcasts: its chats are pending."""
    batch: SendBatchRequested = envelope.data
    broadcast_id = broadcast_of(batch)
    if broadcast_id is None or not await recipients.is_ours(broadcast_id):
        return
    await decide(
        work, slice_stream(batch.batch_id), _COUNT, lambda n: keep_first(n, envelope),
        project=recipients.apply,
    )  # fmt: skip


async def record_skipped(work: Work, recipients: Recipients, envelope: Envelope[Any]) -> None:
    """Chats one of the api's broadcasts left out when it started: skipped, with the reason."""
    skipped: BroadcastRecipientsSkipped = envelope.data
    if not await recipients.is_ours(skipped.broadcast_id):
        return
    await decide(
        work, skipped_stream(skipped.slice_id), _COUNT, lambda n: keep_first(n, envelope),
        project=recipients.apply,
    )  # fmt: skip


async def record_outcome(work: Work, recipients: Recipients, envelope: Envelope[Any]) -> None:
    """The sender's outcome for one recipient of one of the api's broadcasts."""
    outcome: MessageSent | SendFailed = envelope.data
    broadcast_id = broadcast_of(outcome)
    if broadcast_id is None or not await recipients.is_ours(broadcast_id):
        return
    await decide(
        work, recipient_stream(broadcast_id, outcome.chat_id), _COUNT,
        lambda n: keep_first(n, envelope), project=recipients.apply,
    )  # fmt: skip


async def list_recipients(
    recipients: Recipients,
    broadcast_id: str,
    limit: int,
    after: tuple[datetime, int] | None,
    status: RecipientStatus | None,
) -> tuple[list[Recipient], bool]:
    found = await recipients.page(broadcast_id, limit + 1, after, status)
    return found[:limit], len(found) > limit

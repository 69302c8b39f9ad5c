"""Bot pools at the sender: a chat is never sent through a bot of its pool that it did not
start. Ingest assigns each private chat of a pool one worker bot (`chat.assigned.v1`) and
reports every /start (`user.started.v1`, `chat.assignment.confirmed.v1`); the sender keeps
those facts as received and refuses, before any Telegram call, a send through another bot
of the pool that the chat never started."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from chime_contracts.envelope import Envelope
from chime_contracts.events import ChatAssigned, ChatAssignmentConfirmed, SendFailed, UserStarted
from chime_contracts.events.shared import SendSource
from chime_kit.event_store import Append
from chime_kit.streams import Work, decide
from chime_sender.domain import streams
from chime_sender.domain.deliveries import Delivery
from chime_sender.ports import Misrouted, Stores


async def chat_assigned(work: Work, stores: Stores, envelope: Envelope[ChatAssigned]) -> None:
    data = envelope.data
    await stores.assignments.assigned(data.pool, data.chat_id, data.bot_id, data.pool_bot_ids)
    await stores.assignments.started(data.started_bot_id, data.chat_id)


async def assignment_confirmed(
    work: Work, stores: Stores, envelope: Envelope[ChatAssignmentConfirmed]
) -> None:
    await stores.assignments.started(envelope.data.bot_id, envelope.data.chat_id)


async def user_started(work: Work, stores: Stores, envelope: Envelope[UserStarted]) -> None:
    await stores.assignments.started(envelope.data.bot_id, envelope.data.chat_id)


def checked(delivery: Delivery) -> bool:
    """Whether the send goes through the pool check: private chats only, and a reply
    always goes on (the chat is writing to that bot)."""
    return delivery.chat_id > 0 and not _is_reply(delivery.source)


async def refuse(
    work: Work, stores: Stores, delivery: Delivery, received: Envelope[Any], misrouted: Misrouted
) -> Literal["refused", "duplicate"]:
    """Record the request and its failure for `misrouted` (a duplicate when recorded before)."""
    stream = streams.delivery_stream(delivery.delivery_id)
    decided = await decide(
        work, stream, streams.DELIVERY, lambda state: streams.request(state, received),
        project=stores.log.apply,
    )  # fmt: skip
    if not decided.recorded:
        return "duplicate"
    failed = failure(
        delivery.delivery_id, delivery.bot_id, delivery.chat_id, misrouted, delivery.source
    )
    wrapped = work.wrap(failed, received.correlation_id)
    recorded = await work.append([Append(stream, decided.version, [wrapped])])
    await work.publish([wrapped])
    await stores.log.apply(recorded)
    return "refused"


async def refused_chats(
    stores: Stores, bot_id: int, chat_ids: Sequence[int], source: SendSource | None
) -> dict[int, Misrouted]:
    """The chats of a broadcast that may not be sent through `bot_id`, each with why: one
    lookup for the whole batch. The same rule as `refusal`: private chats only, replies go on."""
    private = [chat_id for chat_id in chat_ids if chat_id > 0]
    if not private or _is_reply(source):
        return {}
    return await stores.assignments.misrouted_chats(bot_id, private)


def failure(
    delivery_id: str, bot_id: int, chat_id: int, misrouted: Misrouted, source: SendSource | None
) -> SendFailed:
    """A refused send: failed for good, before any attempt."""
    return SendFailed(
        delivery_id=delivery_id, bot_id=bot_id, chat_id=chat_id,
        reason=misrouted.reason(bot_id, chat_id), permanent=True, attempts=0,
        failed_at=datetime.now(UTC), source=source,
    )  # fmt: skip


def _is_reply(source: SendSource | None) -> bool:
    return source is not None and source.kind == "reply"

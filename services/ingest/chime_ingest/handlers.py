"""What ingest does with an update: accept it durably, then interpret it. No frameworks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from chime_contracts.envelope import Envelope
from chime_contracts.events import UpdateReceived
from chime_ingest import conversation
from chime_ingest.adapters.pools import PostgresPools
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.adapters.update_log import Arrival, Claimed, UpdateLog
from chime_ingest.domain.pools import NO_POOLS, Pools
from chime_ingest.ports import ChatsView, Pooling
from chime_kit.db import Connection
from chime_kit.streams import Work
from chime_kit.unit_of_work import UnitOfWork

Accepted = Literal["accepted", "duplicate", "rejected"]


async def accept_updates(conn: Connection, arrivals: Sequence[Arrival]) -> list[Accepted]:
    """Store updates in one statement (its own transaction when the caller opened none), each
    once per (bot, update_id): accepted (queued for the interpreter by the same statement),
    rejected (kept with the reason Chime cannot act on it, never interpreted), or a
    duplicate of one already stored or earlier in `arrivals`."""
    first: dict[tuple[int, int], int] = {}
    unique = [
        a for n, a in enumerate(arrivals) if first.setdefault((a.bot_id, a.update_id), n) == n
    ]
    stored = await UpdateLog(conn).add(unique) if unique else set()
    outcomes: list[Accepted] = []
    for n, a in enumerate(arrivals):
        key = (a.bot_id, a.update_id)
        if key not in stored or first[key] != n:
            outcomes.append("duplicate")
        else:
            outcomes.append("rejected" if a.reason else "accepted")
    return outcomes


def receipt_of(claimed: Claimed) -> Envelope[UpdateReceived]:
    """The update's receipt, built from its stored row, as the cause of what interpreting it
    emits (they share its correlation id and trace). It is not published: nothing else
    consumes it, and ingest reads its updates from its own table."""
    received = UpdateReceived.model_construct(
        type="update.received.v1",
        bot_id=claimed.bot_id,
        update_id=claimed.update_id,
        kind=claimed.kind,
        chat_id=claimed.chat_id,
        user_id=claimed.user_id,
        update=claimed.payload,
    )
    # Not validated again: every field comes from the row the receive path checked.
    receipt: Envelope[UpdateReceived] = Envelope[UpdateReceived].model_construct(
        id=claimed.event_id,
        type=received.type,
        occurred_at=claimed.received_at,
        producer="ingest",
        correlation_id=claimed.event_id,
        causation_id=None,
        traceparent=claimed.traceparent,
        tracestate=None,
        data=received,
    )
    return receipt


async def interpret_update(
    uow: UnitOfWork,
    receipt: Envelope[UpdateReceived],
    default_time_zone: str,
    pools: Pools = NO_POOLS,
) -> None:
    """As the interpreter calls it: the projections work in the same transaction."""
    pooling = Pooling(pools, PostgresPools(uow.conn)) if pools.pools else None
    await interpret(uow, PostgresChats(uow.conn), receipt.data, default_time_zone, pooling)


async def interpret(
    uow: Work,
    view: ChatsView,
    received: UpdateReceived,
    default_time_zone: str,
    pooling: Pooling | None = None,
) -> None:
    """Turn an accepted update into domain events and replies (`chime_ingest.conversation`).

    A chat's state (started, stopped, time zone, language) is decided from its stream;
    `view` is its projection, updated with every append. `pooling`: the bot pools, whose
    /starts assign chats to worker bots.
    """
    await conversation.interpret(uow, view, received, default_time_zone, pooling)

"""What ingest does with an update: accept it durably, then interpret it. No frameworks."""

from __future__ import annotations

from typing import Any, Literal

from chime_contracts.envelope import Envelope
from chime_contracts.events import UpdateReceived
from chime_ingest import conversation
from chime_ingest.adapters.postgres import PostgresChats, UpdateLog
from chime_ingest.domain.updates import check_update, kind_of
from chime_ingest.ports import ChatsView
from chime_kit.streams import Work
from chime_kit.unit_of_work import UnitOfWork

Accepted = Literal["accepted", "duplicate", "rejected"]


async def accept_update(uow: UnitOfWork, bot_id: int, body: dict[str, Any]) -> Accepted:
    """Store the update once; an invalid one is kept as rejected and the stream moves on.

    The caller has checked that `body` has an integer update_id.
    """
    log = UpdateLog(uow.conn)
    try:
        update = check_update(body)
    except ValueError as exc:
        stored = await log.add(bot_id, body["update_id"], kind_of(body), body, reason=str(exc))
        return "rejected" if stored else "duplicate"
    if not await log.add(bot_id, update.update_id, update.kind, body):
        return "duplicate"
    await uow.emit(
        UpdateReceived(
            bot_id=bot_id,
            update_id=update.update_id,
            kind=update.kind,
            chat_id=update.chat_id,
            user_id=update.user_id,
            update=body,
        )
    )
    return "accepted"


async def interpret_update(
    uow: UnitOfWork, envelope: Envelope[UpdateReceived], default_time_zone: str
) -> None:
    """As the consumer calls it: the chats projection works in the same transaction."""
    await interpret(uow, PostgresChats(uow.conn), envelope.data, default_time_zone)


async def interpret(
    uow: Work, view: ChatsView, received: UpdateReceived, default_time_zone: str
) -> None:
    """Turn an accepted update into domain events and replies (`chime_ingest.conversation`).

    A chat's state (started, stopped, time zone, language) is decided from its stream;
    `view` is its projection, updated with every append.
    """
    await conversation.interpret(uow, view, received, default_time_zone)

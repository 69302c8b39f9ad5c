"""What the sender learns about chats from ingest: a blocked chat that is back (the bot was
added again, the user pressed /start) may be sent to again; a group that became a supergroup
moves, and the deliveries still waiting for it go to its new id."""

from __future__ import annotations

from typing import Any

from chime_contracts.envelope import Envelope
from chime_contracts.events import ChatMemberChanged, ChatMigrated, UserStarted
from chime_kit.streams import Work, decide
from chime_sender.domain import streams
from chime_sender.ports import Stores


async def chat_reported(
    work: Work, stores: Stores, envelope: Envelope[ChatMemberChanged] | Envelope[UserStarted]
) -> bool:
    """Record the report when it changes whether the bot may send there; True if it did."""
    data: Any = envelope.data
    lifts = isinstance(data, UserStarted) or data.new_state in streams.BACK
    if lifts and not await stores.chats.blocked(data.bot_id, data.chat_id):
        # Every /start reports a user: most were never blocked, and the projection (kept in
        # step with the stream in the same transactions) says so in one read.
        return False
    decided = await decide(
        work,
        streams.chat_stream(data.bot_id, data.chat_id),
        streams.CHAT,
        lambda state: streams.reported(state, envelope),
        project=stores.chats.apply,
    )
    return bool(decided.recorded)


async def move_chat(
    work: Work,
    stores: Stores,
    migrated: Envelope[ChatMigrated] | ChatMigrated,
    correlation_id: str | None = None,
) -> int:
    """Record the move in the old chat's stream once and send what waits there to the new id;
    returns how many deliveries moved."""
    data = migrated.data if isinstance(migrated, Envelope) else migrated
    await decide(
        work,
        streams.chat_stream(data.bot_id, data.old_chat_id),
        streams.CHAT,
        lambda state: streams.migrate(state, migrated),
        project=stores.chats.apply,
        correlation_id=correlation_id,
    )
    return await stores.deliveries.move_chat(data.bot_id, data.old_chat_id, data.new_chat_id)


async def chat_migrated(work: Work, stores: Stores, envelope: Envelope[ChatMigrated]) -> int:
    return await move_chat(work, stores, envelope)

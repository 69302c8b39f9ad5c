"""Chats: ingest's and the sender's events about a chat kept in its stream (when they change
it) and projected at once; reads of the projection.

Who sees chats: like history and stats, chats are the platform's, not a caller's (they
belong to the bots, which no team owns): every key with `read` sees every chat.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chime_api.domain.chats import Chat, ChatFilter, changes, stream_of
from chime_api.ports import Chats
from chime_contracts.envelope import Envelope
from chime_kit.event_store import Append, ConcurrencyError
from chime_kit.streams import DEFAULT_ATTEMPTS, Work, append_once


async def record_chat_event(work: Work, chats: Chats, envelope: Envelope[Any]) -> None:
    """Keep the event in its chat's stream if it changes the chat, and project it.

    Decided from the projected row, which carries its stream's version, rather than from a
    load of the stream: a chat's stream grows with its life and this runs for every message
    it sends. A lost race still raises at the append and is taken again (one event: no
    savepoint needed, the transaction is left as it was).
    """
    event = envelope.data
    stream = stream_of(event.bot_id, event.chat_id)
    for attempt in range(1, DEFAULT_ATTEMPTS + 1):
        current = await chats.get(event.bot_id, event.chat_id)
        if not changes(current, envelope):
            return
        version = current.version if current is not None else 0
        try:
            recorded = await append_once(work, Append(stream, version, [envelope]))
        except ConcurrencyError:
            if attempt == DEFAULT_ATTEMPTS:
                raise
            continue
        await chats.apply(recorded)
        return


async def get_chat(chats: Chats, chat_id: int) -> Chat | None:
    return await chats.chat(chat_id)


async def list_chats(
    chats: Chats, where: ChatFilter, limit: int, after: tuple[datetime, int] | None
) -> tuple[list[Chat], bool]:
    """A page, newest first (by when a bot first saw the chat), and whether more follow."""
    found = await chats.page(where, limit + 1, after)
    return found[:limit], len(found) > limit

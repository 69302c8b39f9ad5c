"""A chat's life beside its commands: the bot blocked, added, promoted, kicked; a group
that became a supergroup."""

from __future__ import annotations

from chime_contracts.events import ChatMigrated, ChatStopped, LanguageSet, TimeZoneSet
from chime_ingest.conversation.chat import Chat, now
from chime_ingest.domain import chats
from chime_ingest.domain.messages import MemberChange, member_changed


async def membership(chat: Chat, change: MemberChange) -> None:
    """Recorded in the chat's stream and published; the sender lifts a block on `member`."""
    changed = member_changed(chat.bot_id, change)
    await chat.decide(lambda state: chats.member_changed(state, changed))


async def migrate(old: Chat, new: Chat) -> None:
    """The old group's stream closes with the move (published once); the supergroup's
    stream takes over the zone and language the group had chosen."""
    migrated = ChatMigrated(
        bot_id=old.bot_id, old_chat_id=old.chat_id, new_chat_id=new.chat_id, migrated_at=now()
    )
    decided = await old.decide(lambda state: chats.migrate_from(state, migrated))
    before = decided.after
    zone = TimeZoneSet(
        bot_id=new.bot_id, chat_id=new.chat_id, user_id=new.user_id or new.chat_id,
        time_zone=before.time_zone or new.default_zone,
    )  # fmt: skip
    language = (
        LanguageSet(
            bot_id=new.bot_id, chat_id=new.chat_id, user_id=new.user_id,
            language=before.language,
            chosen_by="command" if before.language_chosen_by == "command" else "telegram",
        )
        if before.language
        else None
    )  # fmt: skip
    stopped = ChatStopped(
        bot_id=new.bot_id, chat_id=new.chat_id, user_id=new.user_id, stopped_at=now()
    )
    await new.decide(lambda state: chats.migrate_into(state, before, zone, language, stopped))

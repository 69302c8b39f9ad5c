"""/v1/chats: the chats the bots know, each with its bots' view of it (blocked, started,
seen), its language and time zone. Scope `read`; every chat is visible to every key that
has it, as history is (see `chime_api.handlers.chats`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from chime_api.adapters.chats import PostgresChats
from chime_api.domain.chats import BotChat, Chat, ChatFilter
from chime_api.domain.problems import ProblemError, not_found
from chime_api.entrypoints.dependencies import ReadDep, ServiceDep
from chime_api.entrypoints.paging import Cursor, Limit, invalid, next_cursor, position
from chime_api.entrypoints.schemas import TELEGRAM_ID, problems
from chime_api.handlers import chats

router = APIRouter(prefix="/v1/chats", tags=["chats"], responses=problems(401, 403, 422))

_SEEN = "2026-11-30T09:12:00Z"
_EXAMPLE: JsonDict = {
    "chat_id": 123456789,
    "assigned_bot_id": 7,
    "language": "uk",
    "time_zone": "Europe/Kyiv",
    "blocked": False,
    "first_seen_at": "2026-10-02T18:40:11Z",
    "last_seen_at": _SEEN,
    "bots": [
        {
            "bot_id": 7, "chat_type": "private", "user_id": 123456789, "username": "olena",
            "first_name": "Olena", "language": "uk", "time_zone": "Europe/Kyiv",
            "blocked": False, "blocked_changed_at": "2026-10-02T18:40:11Z", "stopped": False,
            "started_at": "2026-10-02T18:40:11Z", "first_seen_at": "2026-10-02T18:40:11Z",
            "last_seen_at": _SEEN,
        }
    ],
}  # fmt: skip


class ChatBotOut(BaseModel):
    """The chat as one bot knows it."""

    bot_id: int
    chat_type: str | None = Field(description="private, group, supergroup or channel")
    user_id: int | None = Field(description="the user of a private chat")
    username: str | None
    first_name: str | None
    language: str | None
    time_zone: str | None = Field(description="IANA name the chat chose")
    blocked: bool = Field(description="the chat blocked this bot (or removed it from a group)")
    blocked_changed_at: datetime | None = Field(description="when `blocked` last changed")
    stopped: bool = Field(description="the chat sent /stop: only replies reach it")
    started_at: datetime | None = Field(description="its first /start with this bot")
    first_seen_at: datetime
    last_seen_at: datetime | None = Field(
        description="its latest message or /start (to within 5 minutes)"
    )

    @classmethod
    def of(cls, bot: BotChat) -> ChatBotOut:
        return cls(**{k: v for k, v in bot.__dict__.items() if k in cls.model_fields})


class ChatOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    chat_id: int
    assigned_bot_id: int = Field(
        description="the bot it talks through: the one it last wrote to (else started last),"
        " one it has not blocked if there is one"
    )
    language: str | None
    time_zone: str | None
    blocked: bool = Field(description="the assigned bot is blocked (every bot is, then)")
    first_seen_at: datetime
    last_seen_at: datetime | None
    bots: list[ChatBotOut]

    @classmethod
    def of(cls, chat: Chat) -> ChatOut:
        bots = [ChatBotOut.of(b) for b in chat.bots]
        blocked = next(b.blocked for b in chat.bots if b.bot_id == chat.assigned_bot_id)
        return cls(
            chat_id=chat.chat_id, assigned_bot_id=chat.assigned_bot_id, language=chat.language,
            time_zone=chat.time_zone, blocked=blocked, first_seen_at=chat.first_seen_at,
            last_seen_at=chat.last_seen_at, bots=bots,
        )  # fmt: skip


class ChatPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ChatOut]
    next_cursor: str | None


def chat_position(cursor: str | None) -> tuple[datetime, int] | None:
    """A cursor of this listing names a chat id (a forged one is a 422)."""
    found = position(cursor)
    if found is None:
        return None
    at, item = found
    try:
        return at, int(item)
    except ValueError as exc:
        raise invalid("query.cursor", "not a cursor from a previous page") from exc


@router.get("", response_model=ChatPage, summary="Chats, newest first (by first sight)")
async def list_chats(
    key: ReadDep,
    service: ServiceDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    blocked: Annotated[
        bool | None,
        Query(description="a bot of the chat is blocked (or not); with bot_id, that bot"),
    ] = None,
    bot_id: Annotated[int | None, Query(gt=0, le=TELEGRAM_ID, description="a bot knows it")] = (
        None
    ),
    language: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$",
            examples=["uk"],
            description="a bot's view of the chat has this language",
        ),
    ] = None,
) -> ChatPage:
    """A chat matches when one of its bots' views matches every filter given."""
    where = ChatFilter(bot_id=bot_id, blocked=blocked, language=language)
    async with service.runtime.pool.acquire() as conn:
        found, more = await chats.list_chats(
            PostgresChats(conn), where, limit, chat_position(cursor)
        )
    last = (found[-1].first_seen_at, str(found[-1].chat_id)) if found else None
    return ChatPage(items=[ChatOut.of(c) for c in found], next_cursor=next_cursor(last, more))


@router.get("/{chat_id}", response_model=ChatOut, responses=problems(404))
async def get_chat(
    chat_id: Annotated[int, Path(ge=-TELEGRAM_ID, le=TELEGRAM_ID, description="Telegram id")],
    key: ReadDep,
    service: ServiceDep,
) -> ChatOut:
    async with service.runtime.pool.acquire() as conn:
        chat = await chats.get_chat(PostgresChats(conn), chat_id)
    if chat is None:
        raise ProblemError(not_found(f"chat {chat_id}"))
    return ChatOut.of(chat)

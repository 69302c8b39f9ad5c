"""Helpers of the history tests: a migrated api schema with partitions around a fixed
clock, events as their producers would publish them, and table snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from chime_api.bootstrap import SERVICE
from chime_api.history import handlers
from chime_contracts.envelope import Envelope, Event, envelope_of
from chime_contracts.events import (
    ChatMemberChanged,
    MessageReceived,
    MessageSent,
    SendBatchRequested,
    SendFailed,
    SendRequested,
)
from chime_contracts.events.shared import SendSource
from chime_kit.testing import table_rows
from chime_kit.unit_of_work import unit_of_work

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BOT = 7
TABLES = ("history_messages", "stats_rollups", "stats_members")


def wrapped(event: Event, producer: str, at: datetime | None = None) -> Envelope[Any]:
    envelope = envelope_of(event, producer=producer)
    return envelope.model_copy(update={"occurred_at": at}) if at else envelope


def received(
    chat: int, message_id: int, at: datetime, text: str = "hello", user: int = 100,
    edited_at: datetime | None = None, kind: str = "text",
) -> Envelope[MessageReceived]:  # fmt: skip
    return wrapped(
        MessageReceived(
            bot_id=BOT, update_id=message_id * 10 + (1 if edited_at else 0),
            update_kind="edited_message" if edited_at else "message", chat_id=chat,
            chat_type="private", message_id=message_id, user_id=user, content_type=kind,
            text=text, sent_at=at, edited_at=edited_at,
        ),
        "ingest",
    )  # fmt: skip


def requested(chat: int, delivery: str, at: datetime, text: str = "reply") -> Envelope[Any]:
    return wrapped(
        SendRequested(
            delivery_id=delivery, bot_id=BOT, chat_id=chat, text=text, origin="ingest.reply",
            source=SendSource(kind="reply", id=delivery),
        ),
        "ingest",
        at,
    )  # fmt: skip


def batch(chats: list[int], batch_id: str, at: datetime, text: str) -> Envelope[Any]:
    return wrapped(
        SendBatchRequested(
            batch_id=batch_id, bot_id=BOT, chat_ids=chats, text=text,
            source=SendSource(kind="broadcast", id=batch_id),
        ),
        "scheduler",
        at,
    )  # fmt: skip


def sent(
    chat: int, delivery: str, at: datetime, message_id: int, kind: str = "reply"
) -> Envelope[Any]:
    return wrapped(
        MessageSent(
            delivery_id=delivery, bot_id=BOT, chat_id=chat, telegram_message_id=message_id,
            attempts=1, sent_at=at, source=SendSource(kind=kind, id=delivery),
        ),
        "sender",
    )  # fmt: skip


def failed(chat: int, delivery: str, at: datetime, reason: str = "blocked") -> Envelope[Any]:
    return wrapped(
        SendFailed(
            delivery_id=delivery, bot_id=BOT, chat_id=chat, reason=reason, permanent=True,
            attempts=1, failed_at=at, source=SendSource(kind="reply", id=delivery),
        ),
        "sender",
    )  # fmt: skip


def blocked(chat: int, at: datetime) -> Envelope[Any]:
    return wrapped(
        ChatMemberChanged(
            bot_id=BOT, chat_id=chat, chat_type="private", old_state="member",
            new_state="kicked", changed_at=at,
        ),
        "ingest",
    )  # fmt: skip


HANDLERS: dict[type, Any] = {
    MessageReceived: handlers.message_received,
    SendRequested: handlers.send_requested,
    SendBatchRequested: handlers.batch_requested,
    MessageSent: handlers.send_outcome,
    SendFailed: handlers.send_outcome,
    ChatMemberChanged: handlers.member_changed,
}


async def apply(pool: asyncpg.Pool, *envelopes: Envelope[Any]) -> None:
    """Each event handled in a transaction of its own, as a consumer would."""
    for envelope in envelopes:
        async with unit_of_work(pool, SERVICE, envelope) as uow:
            await HANDLERS[type(envelope.data)](uow, envelope)


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[str]]:
    async with pool.acquire() as conn:
        return {t: await table_rows(conn, t) for t in TABLES}


async def rollup(
    pool: asyncpg.Pool, scope: str, scope_id: str, granularity: str, bucket: datetime
) -> Any:
    return await pool.fetchrow(
        "SELECT * FROM stats_rollups WHERE scope = $1 AND scope_id = $2 AND granularity = $3"
        " AND bucket = $4",
        scope, scope_id, granularity, bucket,
    )  # fmt: skip


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)

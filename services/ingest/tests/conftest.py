"""Shared by ingest's conversation tests: a chat with a bot through the real path
(PostgreSQL), updates as Telegram sends them, interpreted in a unit of work.

`talk` gives a test these helpers (conftest functions cannot be imported by tests)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived
from chime_ingest import handlers
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations
from chime_kit.unit_of_work import unit_of_work

BOT = 42
BOT_USER = {"id": BOT, "is_bot": True, "first_name": "Chime", "username": "chime_bot"}
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _no_real_telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest asks Telegram each bot's `getMe` when it starts: a test that names no Bot API
    gets one that refuses at once, never Telegram's own."""
    monkeypatch.setenv("CHIME_INGEST_TELEGRAM_API_BASE", "http://127.0.0.1:9")


def person(user_id: int, language: str | None = "en") -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Ann", "username": "ann"}
    if language:
        user["language_code"] = language
    return user


def chat_of(chat_id: int, kind: str = "private") -> dict[str, Any]:
    return {"id": chat_id, "type": kind, **({"title": "Team"} if kind != "private" else {})}


def message(
    text: str | None,
    chat_id: int = 7,
    *,
    kind: str = "private",
    user_id: int | None = None,
    language: str | None = "en",
    reply_to: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    update_id = next(_ids)
    body: dict[str, Any] = {
        "message_id": update_id,
        "date": 1_764_000_000,
        "chat": chat_of(chat_id, kind),
        "from": person(user_id or abs(chat_id), language),
        **extra,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            length = len(text.split()[0])
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    if reply_to is not None:
        body["reply_to_message"] = reply_to
    return {"update_id": update_id, "message": body}


def bot_message(text: str, chat_id: int = 7, message_id: int = 900) -> dict[str, Any]:
    """A message the bot sent earlier (a reminder), as it appears in updates."""
    return {
        "message_id": message_id, "date": 1_764_000_000, "chat": chat_of(chat_id),
        "from": BOT_USER, "text": text,
    }  # fmt: skip


def pressed(data: str, shown: dict[str, Any], user_id: int = 7) -> dict[str, Any]:
    update_id = next(_ids)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"q{update_id}", "from": person(user_id), "chat_instance": "ci",
            "message": shown, "data": data,
        },
    }  # fmt: skip


def membership(
    old: str, new: str, chat_id: int = 7, kind: str = "private", **rights: Any
) -> dict[str, Any]:
    update_id = next(_ids)
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": chat_of(chat_id, kind), "from": person(abs(chat_id) % 10_000 or 1),
            "date": 1_764_000_000,
            "old_chat_member": {
                "user": BOT_USER, "status": old, **({"until_date": 0} if old == "kicked" else {}),
            },
            "new_chat_member": {
                "user": BOT_USER, "status": new, **rights,
                **({"until_date": 0} if new == "kicked" else {}),
            },
        },
    }  # fmt: skip


async def interpret(pool: Any, body: dict[str, Any], zone: str = "Europe/Kyiv") -> dict[str, Any]:
    """What the update caused: events by type (their data), and callback answers owed."""
    kind = next(k for k in body if k != "update_id")
    received = envelope_of(
        UpdateReceived(bot_id=BOT, update_id=body["update_id"], kind=kind, update=body),
        producer="ingest",
    )
    async with unit_of_work(pool, "ingest", received) as uow:
        await handlers.interpret_update(uow, received, default_time_zone=zone)
    rows = await pool.fetch("SELECT routing_key, body FROM outbox ORDER BY id")
    answers = await pool.fetch("SELECT query_id, text FROM callback_answers ORDER BY id")
    await pool.execute("DELETE FROM outbox; DELETE FROM callback_answers")
    emitted: dict[str, Any] = {}
    for row in rows:
        envelope = orjson.loads(row["body"])
        emitted.setdefault(envelope["type"], []).append(envelope["data"])
    if answers:
        emitted["answers"] = [(a["query_id"], a["text"]) for a in answers]
    return emitted


def reply_of(emitted: dict[str, Any]) -> str:
    [sent] = emitted["send.requested.v1"]
    assert sent["source"]["kind"] == "reply"
    text: str = sent["text"]
    return text


class Talk:
    """The helpers above, bound to one test's database."""

    BOT = BOT
    message = staticmethod(message)
    bot_message = staticmethod(bot_message)
    pressed = staticmethod(pressed)
    membership = staticmethod(membership)
    reply_of = staticmethod(reply_of)

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def __call__(self, body: dict[str, Any], zone: str = "Europe/Kyiv") -> dict[str, Any]:
        return await interpret(self.pool, body, zone)

    async def chat(self, chat_id: int = 7) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM chats WHERE bot_id = $1 AND chat_id = $2", BOT, chat_id
        )
        return dict(row) if row else None

    async def stream(self, chat_id: int = 7) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY version", f"chat-{BOT}-{chat_id}"
        )
        return [r["type"] for r in rows]


@pytest.fixture
async def talk(database_url: str) -> Any:
    await run_migrations(database_url, "ingest", "chime_ingest.migrations")
    pool = await create_pool(database_url, "ingest", min_size=1, max_size=2)
    yield Talk(pool)
    await pool.close()

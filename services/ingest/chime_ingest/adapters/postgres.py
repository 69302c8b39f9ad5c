"""Ingest's own tables: the update log and what it knows of chats."""

from __future__ import annotations

from typing import Any

from chime_kit.db import Connection


class UpdateLog:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(
        self,
        bot_id: int,
        update_id: int,
        kind: str,
        payload: dict[str, Any],
        reason: str | None = None,
    ) -> bool:
        """False when (bot, update_id) was already received."""
        status = await self.conn.execute(
            "INSERT INTO updates (bot_id, update_id, kind, status, reason, payload)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            bot_id,
            update_id,
            kind,
            "rejected" if reason else "accepted",
            reason,
            payload,
        )
        return bool(status == "INSERT 0 1")

    async def reject_body(self, bot_id: int, reason: str, body: str) -> None:
        await self.conn.execute(
            "INSERT INTO rejected_bodies (bot_id, reason, body) VALUES ($1, $2, $3)",
            bot_id,
            reason,
            body[:65536],
        )


class Chats:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def time_zone(self, bot_id: int, chat_id: int) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT time_zone FROM chats WHERE bot_id = $1 AND chat_id = $2", bot_id, chat_id
        )
        return value

    async def start(self, bot_id: int, chat_id: int, time_zone: str) -> None:
        await self.conn.execute(
            "INSERT INTO chats (bot_id, chat_id, time_zone, started_at)"
            " VALUES ($1, $2, $3, now())"
            " ON CONFLICT (bot_id, chat_id) DO UPDATE SET started_at = now()",
            bot_id,
            chat_id,
            time_zone,
        )

    async def set_time_zone(self, bot_id: int, chat_id: int, time_zone: str) -> None:
        await self.conn.execute(
            "INSERT INTO chats (bot_id, chat_id, time_zone) VALUES ($1, $2, $3)"
            " ON CONFLICT (bot_id, chat_id) DO UPDATE SET time_zone = excluded.time_zone",
            bot_id,
            chat_id,
            time_zone,
        )

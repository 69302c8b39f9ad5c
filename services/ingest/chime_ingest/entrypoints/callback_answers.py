"""Answers pressed buttons at once: Telegram shows a spinner until `answerCallbackQuery`.

The conversation decides the answer (a toast: "💤 Snoozed until 18:30") in the transaction
that interprets the update and writes it to `callback_answers` with a NOTIFY; this loop
wakes at the commit, sends each answer and deletes it. An answer is sent at most once (it
is deleted before the call): a lost toast is harmless, a second one is refused by Telegram.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import httpx

from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.adapters.telegram import TelegramBotApi, TelegramError
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 100


class CallbackAnswerer:
    def __init__(
        self,
        runtime: Runtime,
        telegram: TelegramBotApi,
        tokens: dict[int, str],
        max_idle_seconds: float = 5.0,
    ) -> None:
        self.runtime = runtime
        self.telegram = telegram
        self.tokens = tokens
        self.max_idle_seconds = max_idle_seconds
        self._loop = runtime.watch(BackgroundLoop("ingest-callback-answers", self._run))

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def answer_pending(self) -> int:
        """Send what is owed, up to a batch; how many were taken."""
        rows = await self.runtime.pool.fetch(
            "DELETE FROM callback_answers WHERE id IN (SELECT id FROM callback_answers"
            " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING bot_id, query_id, text",
            BATCH,
        )
        await asyncio.gather(*(self._answer(dict(row)) for row in rows))
        return len(rows)

    async def _answer(self, row: dict[str, Any]) -> None:
        token = self.tokens.get(row["bot_id"])
        if token is None:
            return
        try:
            await self.telegram.answer_callback_query(token, row["query_id"], row["text"])
        except (TelegramError, httpx.HTTPError) as exc:
            log.info("callback query %s not answered: %s", row["query_id"], exc)

    async def _run(self) -> None:
        # A connection of its own, not the pool's: it only listens, and is closed at once
        # (never waited on) when the loop stops or the database goes away.
        dsn = self.runtime.settings.database_url.get_secret_value()
        listener = await asyncpg.connect(
            dsn, timeout=self.runtime.settings.db_acquire_timeout_seconds
        )
        try:
            await listener.add_listener(PostgresChats.ANSWERS_CHANNEL, self._loop.wake)
            while True:
                self._loop.clear()
                if await self.answer_pending() < BATCH:
                    await self._loop.sleep(self.max_idle_seconds)
        finally:
            listener.terminate()

"""Long polling (getUpdates) for installations without a public URL, one task per bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import httpx
from opentelemetry import trace

from chime_ingest import handlers
from chime_ingest.adapters.telegram import TelegramBotApi, TelegramError
from chime_ingest.metrics import UPDATES
from chime_kit.runtime import Runtime
from chime_kit.telemetry import mark_service

log = logging.getLogger(__name__)
tracer = trace.get_tracer("chime.ingest")


class Poller:
    def __init__(
        self, runtime: Runtime, api: TelegramBotApi, tokens: dict[int, str], timeout: int
    ) -> None:
        self.runtime = runtime
        self.api = api
        self.tokens = tokens
        self.timeout = timeout
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for bot_id, token in self.tokens.items():
            await self.api.delete_webhook(token)
            self._tasks.append(asyncio.create_task(self._poll(bot_id, token)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self, bot_id: int, token: str) -> None:
        offset: int | None = None
        while True:
            try:
                updates = await self.api.get_updates(token, offset, self.timeout)
            except httpx.HTTPError as exc:
                # httpx errors can carry the request URL, and the URL carries the token.
                log.warning("getUpdates for bot %s failed: %s", bot_id, type(exc).__name__)
                await asyncio.sleep(2.0)
                continue
            except TelegramError as exc:
                log.warning("getUpdates for bot %s failed: %s", bot_id, exc)
                await asyncio.sleep(2.0)
                continue
            try:
                for body in updates:
                    await self._store(bot_id, body)
                    # Confirmed only after it is stored: a crash re-reads it, dedup drops it.
                    offset = int(body["update_id"]) + 1
            except (OSError, asyncpg.PostgresError):
                log.exception("storing updates of bot %s failed; reading them again", bot_id)
                await asyncio.sleep(1.0)

    async def _store(self, bot_id: int, body: dict[str, Any]) -> None:
        with tracer.start_as_current_span("telegram update (polling)") as span:
            mark_service(span, "ingest")
            async with self.runtime.unit_of_work() as uow:
                outcome = await handlers.accept_update(uow, bot_id, body)
        UPDATES.labels("ingest", str(bot_id), outcome).inc()

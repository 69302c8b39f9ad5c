"""Long polling (getUpdates) for installations without a public URL, one task per bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
import orjson
from opentelemetry import trace

from chime_ingest import handlers
from chime_ingest.adapters.telegram import TelegramBotApi, TelegramError
from chime_ingest.domain.updates import NotAnUpdate, screened, update_id_of
from chime_ingest.entrypoints.webhook import reject_body
from chime_ingest.metrics import UPDATES
from chime_kit.runtime import Runtime
from chime_kit.telemetry import mark_service
from chime_kit.unreachable import dependency_unavailable

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
            except (TelegramError, ValueError, RecursionError) as exc:
                # ValueError, RecursionError: an answer that is not JSON, or nests absurdly.
                log.warning("getUpdates for bot %s failed: %s", bot_id, exc)
                await asyncio.sleep(2.0)
                continue
            try:
                for body in updates:
                    update_id = await self._store(bot_id, body)
                    # Confirmed only after it is stored: a crash re-reads it, dedup drops it.
                    if update_id is not None:
                        offset = update_id + 1
            except Exception as exc:
                # As Telegram redelivers a webhook answered 5xx: read them again, later.
                if dependency_unavailable(exc):
                    log.warning("storing updates of bot %s failed (%r); again soon", bot_id, exc)
                else:
                    log.exception("storing updates of bot %s failed; reading them again", bot_id)
                await asyncio.sleep(1.0)

    async def _store(self, bot_id: int, body: Any) -> int | None:
        """Store one update as the webhook does; its update_id, when it has a usable one."""
        try:
            update = screened(body)
        except NotAnUpdate as exc:
            await reject_body(self.runtime, bot_id, str(exc), _shown(body))
            return _usable_id(body)
        with tracer.start_as_current_span("telegram update (polling)") as span:
            mark_service(span, "ingest")
            async with self.runtime.unit_of_work() as uow:
                outcome = await handlers.accept_update(uow, bot_id, update)
        UPDATES.labels("ingest", str(bot_id), outcome).inc()
        return int(update["update_id"])


def _usable_id(body: Any) -> int | None:
    try:
        return update_id_of(body)
    except NotAnUpdate:
        return None


def _shown(body: Any) -> str:
    try:
        return orjson.dumps(body).decode()
    except (TypeError, RecursionError):  # orjson writes neither huge integers nor 255 levels
        return "(not shown: orjson cannot write it)"

"""Long polling (getUpdates) for installations without a public URL.

Every replica runs a Poller, and each bot is polled by one replica at a time: the one that
holds its lease in PostgreSQL (`poll_leases`). A holder renews its leases every third of
their length; when it dies they expire and another replica takes them over at its next
renewal; one that stops gives them up at once. A poller whose lease may have run out (it
could not renew) stops calling getUpdates for that bot, and no long poll outlasts the
lease, so two replicas do not poll one bot: Telegram's 409 ("terminated by other
getUpdates request") is a rare handover, answered with a growing pause, never a storm.

Updates go through the webhook's receive path (`Intake`); a bot's updates are confirmed
(the next getUpdates' offset) only once stored, in order, so a crash re-reads them and the
log's dedup drops what was already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace

from chime_ingest.adapters.leases import PollLeases
from chime_ingest.adapters.telegram import TelegramBotApi, TelegramError
from chime_ingest.domain.updates import NotAnUpdate, update_id_of
from chime_ingest.entrypoints.intake import Intake
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime
from chime_kit.telemetry import mark_service
from chime_kit.unreachable import dependency_unavailable

log = logging.getLogger(__name__)
tracer = trace.get_tracer("chime.ingest")
# The longest pause after repeated failures of one bot's getUpdates (409s among them).
MAX_PAUSE_SECONDS = 60.0


class Poller:
    def __init__(
        self,
        runtime: Runtime,
        intake: Intake,
        api: TelegramBotApi,
        tokens: dict[int, str],
        *,
        timeout: int,
        lease_seconds: float,
        allowed_updates: list[str],
    ) -> None:
        self.runtime = runtime
        self.intake = intake
        self.api = api
        self.tokens = tokens
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        self.allowed_updates = allowed_updates
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.loop = runtime.watch(BackgroundLoop("ingest-poll-leases", self._keep_leases))
        self._polls: dict[int, asyncio.Task[None]] = {}
        self._valid_until: dict[int, float] = {}

    @property
    def polling(self) -> frozenset[int]:
        """The bots this replica polls now."""
        return frozenset(bot for bot, task in self._polls.items() if not task.done())

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        for bot_id in list(self._polls):
            await self._stop_polling(bot_id)
        try:
            async with asyncio.timeout(5), self.runtime.pool.acquire() as conn:
                await PollLeases(conn).release(self.holder)
        except Exception as exc:  # they expire on their own
            log.warning("releasing the poll leases failed (%r); they will expire", exc)

    async def _keep_leases(self) -> None:
        while True:
            self.loop.clear()
            asked = time.monotonic()
            async with self.runtime.pool.acquire() as conn:
                held = await PollLeases(conn).hold(self.tokens, self.holder, self.lease_seconds)
            for bot_id in held:
                self._valid_until[bot_id] = asked + self.lease_seconds
                task = self._polls.get(bot_id)
                if task is None or task.done():
                    log.info("polling bot %s (lease taken by %s)", bot_id, self.holder)
                    self._polls[bot_id] = asyncio.create_task(
                        self._poll(bot_id, self.tokens[bot_id]), name=f"poll-{bot_id}"
                    )
            for bot_id in set(self._polls) - held:
                log.info("bot %s is polled by another replica now", bot_id)
                await self._stop_polling(bot_id)
            await self.loop.sleep(self.lease_seconds / 3)

    async def _stop_polling(self, bot_id: int) -> None:
        self._valid_until.pop(bot_id, None)
        task = self._polls.pop(bot_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _lease_left(self, bot_id: int) -> float:
        return self._valid_until.get(bot_id, 0.0) - time.monotonic()

    async def _poll(self, bot_id: int, token: str) -> None:
        offset: int | None = None
        failures = 0
        webhook_deleted = False
        while (left := self._lease_left(bot_id)) >= 1:
            try:
                if not webhook_deleted:  # left over from webhook mode: getUpdates would 409
                    await self.api.delete_webhook(token)
                    webhook_deleted = True
                wait = min(self.timeout, int(left))
                updates = await self.api.get_updates(token, offset, wait, self.allowed_updates)
            except TelegramError as exc:  # never carries the URL, so never the token
                failures += 1
                pause = min(MAX_PAUSE_SECONDS, 2.0**failures)
                if exc.error_code == 409:
                    webhook_deleted = "webhook" not in str(exc)
                log.warning("getUpdates of bot %s failed: %s; again in %.0fs", bot_id, exc, pause)
                await asyncio.sleep(pause)
                continue
            failures = 0
            offset = await self._store(bot_id, updates, offset)
        log.info("lease of bot %s may have run out; polling stops until it is renewed", bot_id)

    async def _store(self, bot_id: int, updates: Sequence[Any], offset: int | None) -> int | None:
        """Store a getUpdates answer in one group commit; the offset that confirms what was
        stored in order (a failure stops it, so that update is read again)."""
        with tracer.start_as_current_span("telegram updates (polling)") as span:
            mark_service(span, "ingest")
            span.set_attribute("chime.bot_id", bot_id)
            results = await asyncio.gather(
                *(self._receive(bot_id, body) for body in updates), return_exceptions=True
            )
        for result in results:
            if isinstance(result, BaseException):
                if dependency_unavailable(result):
                    log.warning("storing updates of bot %s failed (%r); again soon", bot_id, result)
                else:
                    log.error("storing updates of bot %s failed", bot_id, exc_info=result)
                await asyncio.sleep(1.0)  # as Telegram redelivers a webhook answered 5xx
                break
            if result is not None:
                offset = result + 1
        return offset

    async def _receive(self, bot_id: int, body: Any) -> int | None:
        """Store one update; its update_id when it has a usable one."""
        with contextlib.suppress(NotAnUpdate):  # kept in rejected_bodies; the stream goes on
            await self.intake.receive(bot_id, body)
        try:
            return update_id_of(body)
        except NotAnUpdate:
            return None

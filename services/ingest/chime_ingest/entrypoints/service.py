"""The running ingest: bootstrap's dependencies, its intake, interpreter, callback answerer
and, in polling mode, its poller (in webhook mode, its webhooks are registered at start).

Intake starts at once; the bots' usernames (`getMe`) are learned in the background, asked
again with backoff while Telegram does not answer, and the interpreter starts once they are
known or after `username_wait_seconds`, whichever comes first (it reads what was stored
meanwhile)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from chime_ingest.bootstrap import Dependencies, build, learn_bot_usernames
from chime_ingest.entrypoints.callback_answers import CallbackAnswerer
from chime_ingest.entrypoints.intake import Intake
from chime_ingest.entrypoints.interpreter import Interpreter
from chime_ingest.entrypoints.polling import Poller
from chime_ingest.entrypoints.pools import pool_gauge
from chime_ingest.entrypoints.webhooks import register_webhooks
from chime_ingest.settings import IngestSettings
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime

log = logging.getLogger(__name__)

USERNAME_RETRY_BASE_SECONDS = 1.0
USERNAME_RETRY_MAX_SECONDS = 60.0


@dataclass
class Ingest:
    deps: Dependencies
    intake: Intake
    interpreter: Interpreter
    poller: Poller | None = field(default=None)
    answerer: CallbackAnswerer | None = field(default=None)
    pool_gauge: BackgroundLoop | None = field(default=None)
    usernames: asyncio.Task[None] | None = field(default=None)  # learning them (getMe)
    interpreting: asyncio.Task[None] | None = field(default=None)  # starting the interpreter

    @property
    def runtime(self) -> Runtime:
        return self.deps.runtime

    @property
    def webhook_secrets(self) -> dict[int, str]:
        return self.deps.webhook_secrets

    async def start(self) -> None:
        deps = self.deps
        await self.runtime.start()
        if deps.tokens:
            self.answerer = CallbackAnswerer(self.runtime, deps.telegram, deps.tokens)
            await self.answerer.start()
        if self.pool_gauge is not None:
            self.pool_gauge.start()
        self.intake.start()
        if self.poller is not None:
            self.poller.start()
        elif deps.settings.public_url:
            await register_webhooks(deps.settings, deps.telegram)
        self.usernames = asyncio.create_task(self._learn_usernames(), name="ingest-usernames")
        self.interpreting = asyncio.create_task(
            self._interpret_once_named(self.usernames), name="ingest-interpreter-start"
        )

    async def _learn_usernames(self) -> None:
        """`getMe` of every bot, asked again with backoff for those Telegram did not answer."""
        pending = dict(self.deps.tokens)
        delay = USERNAME_RETRY_BASE_SECONDS
        while pending:
            try:
                pending = await learn_bot_usernames(self.runtime, self.deps.telegram, pending)
            except Exception:  # the database, say: ask again later
                log.exception("learning the bots' usernames failed")
            if pending:
                await asyncio.sleep(delay)
                delay = min(delay * 2, USERNAME_RETRY_MAX_SECONDS)

    async def _interpret_once_named(self, learning: asyncio.Task[None]) -> None:
        """Start the interpreter once the usernames are learned, or after the wait."""
        try:
            async with asyncio.timeout(self.deps.settings.username_wait_seconds):
                await asyncio.shield(learning)
        except TimeoutError:
            log.warning(
                "interpreting before every bot's username is known (getMe unanswered after"
                " %ss); still asking",
                self.deps.settings.username_wait_seconds,
            )
        self.interpreter.start()

    async def stop(self) -> None:
        for task in (self.interpreting, self.usernames):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.poller is not None:
            await self.poller.stop()
        await self.intake.stop()
        await self.interpreter.stop()
        if self.pool_gauge is not None:
            await self.pool_gauge.stop()
        if self.answerer is not None:
            await self.answerer.stop()
        await self.deps.close()


async def create_service(settings: IngestSettings) -> Ingest:
    deps = await build(settings)
    runtime = deps.runtime
    interpreter = Interpreter(
        runtime,
        settings.default_time_zone,
        batch_size=settings.interpreter_batch_size,
        max_attempts=settings.interpreter_max_attempts,
        idle_seconds=settings.interpreter_idle_seconds,
        pools=settings.pools(),
    )
    intake = Intake(
        runtime,
        on_stored=interpreter.wake,
        max_batch=settings.group_commit_max,
        committers=settings.group_commit_transactions,
    )
    poller = None
    if settings.mode == "polling":
        poller = Poller(
            runtime,
            intake,
            deps.telegram,
            deps.tokens,
            timeout=settings.polling_timeout_seconds,
            lease_seconds=settings.poll_lease_seconds,
            allowed_updates=settings.allowed_updates,
        )
    return Ingest(
        deps,
        intake=intake,
        interpreter=interpreter,
        poller=poller,
        pool_gauge=pool_gauge(runtime, settings.pools()) if settings.bot_pools else None,
    )

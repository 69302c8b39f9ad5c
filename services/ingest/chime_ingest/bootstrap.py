"""Ingest's composition root."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.adapters.telegram import TelegramBotApi, TelegramError
from chime_ingest.domain.bots import webhook_secret
from chime_ingest.entrypoints.callback_answers import CallbackAnswerer
from chime_ingest.entrypoints.intake import Intake
from chime_ingest.entrypoints.interpreter import Interpreter
from chime_ingest.entrypoints.polling import Poller
from chime_ingest.entrypoints.pools import pool_gauge
from chime_ingest.entrypoints.webhooks import register_webhooks
from chime_ingest.settings import MIGRATIONS, SERVICE, IngestSettings
from chime_kit.bots import tokens_by_bot
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime, open_runtime
from chime_kit.telegram import BotApi

log = logging.getLogger(__name__)


@dataclass
class Ingest:
    runtime: Runtime
    settings: IngestSettings
    telegram: TelegramBotApi
    tokens: dict[int, str]
    webhook_secrets: dict[int, str]
    intake: Intake
    interpreter: Interpreter
    poller: Poller | None = field(default=None)
    answerer: CallbackAnswerer | None = field(default=None)
    pool_gauge: BackgroundLoop | None = field(default=None)

    async def start(self) -> None:
        await self.runtime.start()
        await learn_bot_usernames(self.runtime, self.telegram, self.tokens)
        if self.tokens:
            self.answerer = CallbackAnswerer(self.runtime, self.telegram, self.tokens)
            await self.answerer.start()
        self.interpreter.start()
        if self.pool_gauge is not None:
            self.pool_gauge.start()
        self.intake.start()
        if self.poller is not None:
            self.poller.start()
        elif self.settings.public_url:
            await register_webhooks(self.settings, self.telegram)

    async def stop(self) -> None:
        if self.poller is not None:
            await self.poller.stop()
        await self.intake.stop()
        await self.interpreter.stop()
        if self.pool_gauge is not None:
            await self.pool_gauge.stop()
        if self.answerer is not None:
            await self.answerer.stop()
        await self.telegram.aclose()
        await self.runtime.stop()


def username_of(me: Any) -> str | None:
    """The username in a `getMe` result, if it has one."""
    username = me.get("username") if isinstance(me, dict) else None
    return username if isinstance(username, str) and username else None


async def learn_bot_usernames(
    runtime: Runtime, telegram: TelegramBotApi, tokens: dict[int, str]
) -> None:
    """Each bot's username from `getMe`, stored before any update is interpreted, so that a
    group's `/cmd@another_bot` is told apart from the start. A bot whose call fails is only
    logged: it learns its username from its next `my_chat_member` update, as before."""

    async def one(bot_id: int, token: str) -> None:
        try:
            username = username_of(await telegram.get_me(token))
        except TelegramError as exc:  # never carries the URL, so never the token
            log.warning("bot %s: getMe failed, username not learned: %s", bot_id, exc)
            return
        if username is None:
            log.warning("bot %s: getMe answered no username", bot_id)
            return
        async with runtime.pool.acquire() as conn:
            await PostgresChats(conn).set_bot_username(bot_id, username)

    await asyncio.gather(*(one(bot, token) for bot, token in sorted(tokens.items())))


def bots_of(settings: IngestSettings) -> tuple[dict[int, str], dict[int, str]]:
    """Each bot's token, and its webhook secret (none without a key: polling mode, where the
    webhook route knows no bot and refuses every post)."""
    tokens = {bot: t.get_secret_value() for bot, t in tokens_by_bot(settings.bot_tokens).items()}
    key = settings.webhook_secret_key
    secrets = {b: webhook_secret(key.get_secret_value(), b) for b in tokens} if key else {}
    return tokens, secrets


async def build(settings: IngestSettings) -> Ingest:
    runtime = await open_runtime(SERVICE, settings, MIGRATIONS)
    tokens, secrets = bots_of(settings)
    telegram = TelegramBotApi(BotApi(settings.telegram_api_base))
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
            telegram,
            tokens,
            timeout=settings.polling_timeout_seconds,
            lease_seconds=settings.poll_lease_seconds,
            allowed_updates=settings.allowed_updates,
        )
    return Ingest(
        runtime=runtime,
        settings=settings,
        telegram=telegram,
        tokens=tokens,
        webhook_secrets=secrets,
        intake=intake,
        interpreter=interpreter,
        poller=poller,
        pool_gauge=pool_gauge(runtime, settings.pools()) if settings.bot_pools else None,
    )

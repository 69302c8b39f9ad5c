"""Ingest's dependencies, built once per process; `entrypoints/service.py` runs them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.adapters.telegram import TelegramBotApi, TelegramError
from chime_ingest.domain.bots import webhook_secret
from chime_ingest.settings import MIGRATIONS, SERVICE, IngestSettings
from chime_kit.bots import tokens_by_bot
from chime_kit.runtime import Runtime, open_runtime
from chime_kit.telegram import BotApi

log = logging.getLogger(__name__)


@dataclass
class Dependencies:
    runtime: Runtime  # pool, unit of work, broker, outbox relay
    settings: IngestSettings
    telegram: TelegramBotApi
    tokens: dict[int, str]
    webhook_secrets: dict[int, str]

    async def close(self) -> None:
        await self.telegram.aclose()
        await self.runtime.stop()


def username_of(me: Any) -> str | None:
    """The username in a `getMe` result, if it has one."""
    username = me.get("username") if isinstance(me, dict) else None
    return username if isinstance(username, str) and username else None


async def learn_bot_usernames(
    runtime: Runtime, telegram: TelegramBotApi, tokens: dict[int, str]
) -> dict[int, str]:
    """Each bot's username from `getMe`, stored so that a group's `/cmd@another_bot` is told
    apart and a pool's deep links can name their worker. Returns the bots worth asking again
    (Telegram unreachable, a 5xx, a 429); a bot Telegram refuses (a revoked token) or that has
    no username is only logged: it learns its username from its next `my_chat_member`."""

    async def one(bot_id: int, token: str) -> bool:
        try:
            username = username_of(await telegram.get_me(token))
        except TelegramError as exc:  # never carries the URL, so never the token
            log.warning("bot %s: getMe failed, username not learned: %s", bot_id, exc)
            code = exc.error_code
            return code is None or code == 429 or code >= 500
        if username is None:
            log.warning("bot %s: getMe answered no username", bot_id)
            return False
        async with runtime.pool.acquire() as conn:
            await PostgresChats(conn).set_bot_username(bot_id, username)
        return False

    bots = sorted(tokens.items())
    again = await asyncio.gather(*(one(bot, token) for bot, token in bots))
    return {bot: token for (bot, token), retry in zip(bots, again, strict=True) if retry}


def bots_of(settings: IngestSettings) -> tuple[dict[int, str], dict[int, str]]:
    """Each bot's token, and its webhook secret (none without a key: polling mode, where the
    webhook route knows no bot and refuses every post)."""
    tokens = {bot: t.get_secret_value() for bot, t in tokens_by_bot(settings.bot_tokens).items()}
    key = settings.webhook_secret_key
    secrets = {b: webhook_secret(key.get_secret_value(), b) for b in tokens} if key else {}
    return tokens, secrets


async def build(settings: IngestSettings) -> Dependencies:
    runtime = await open_runtime(SERVICE, settings, MIGRATIONS)
    tokens, secrets = bots_of(settings)
    telegram = TelegramBotApi(BotApi(settings.telegram_api_base))
    return Dependencies(runtime, settings, telegram, tokens, secrets)

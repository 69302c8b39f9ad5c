"""Ingest's composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from chime_ingest.adapters.telegram import TelegramBotApi
from chime_ingest.domain.bots import webhook_secret
from chime_ingest.entrypoints.callback_answers import CallbackAnswerer
from chime_ingest.entrypoints.consumers import build_router
from chime_ingest.entrypoints.polling import Poller
from chime_ingest.settings import IngestSettings
from chime_kit.bots import tokens_by_bot
from chime_kit.runtime import Runtime, open_runtime


@dataclass
class Ingest:
    runtime: Runtime
    settings: IngestSettings
    http: httpx.AsyncClient
    telegram: TelegramBotApi
    tokens: dict[int, str]
    webhook_secrets: dict[int, str]
    poller: Poller | None = field(default=None)
    answerer: CallbackAnswerer | None = field(default=None)

    async def start(self) -> None:
        await self.runtime.start()
        if self.tokens:
            self.answerer = CallbackAnswerer(self.runtime, self.telegram, self.tokens)
            await self.answerer.start()
        if self.settings.mode == "polling":
            self.poller = Poller(
                self.runtime, self.telegram, self.tokens, self.settings.polling_timeout_seconds
            )
            await self.poller.start()
        elif self.settings.public_url:
            base = self.settings.public_url.rstrip("/")
            for bot_id, token in self.tokens.items():
                await self.telegram.set_webhook(
                    token, f"{base}/telegram/{bot_id}/webhook", self.webhook_secrets[bot_id]
                )

    async def stop(self) -> None:
        if self.poller is not None:
            await self.poller.stop()
        if self.answerer is not None:
            await self.answerer.stop()
        await self.http.aclose()
        await self.runtime.stop()


async def build(settings: IngestSettings) -> Ingest:
    runtime = await open_runtime("ingest", settings, "chime_ingest.migrations")
    runtime.broker.include_router(build_router(runtime, settings.default_time_zone))
    tokens = {bot: t.get_secret_value() for bot, t in tokens_by_bot(settings.bot_tokens).items()}
    # No key (polling mode): the webhook route knows no bot and refuses every post.
    key = settings.webhook_secret_key
    secrets = {b: webhook_secret(key.get_secret_value(), b) for b in tokens} if key else {}
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
    return Ingest(
        runtime=runtime,
        settings=settings,
        http=http,
        telegram=TelegramBotApi(http, settings.telegram_api_base),
        tokens=tokens,
        webhook_secrets=secrets,
    )

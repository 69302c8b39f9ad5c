"""Each configured bot's webhook at Telegram: registered (`sync`) and inspected (`status`).

Telegram never shows a webhook's secret token back, so `sync` sets every bot's webhook
whether or not it drifted: that is the only way to be sure of the secret too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chime_ingest.adapters.telegram import TelegramBotApi, TelegramError
from chime_ingest.domain.bots import webhook_secret
from chime_ingest.domain.webhooks import Webhook, drift, webhook_url
from chime_ingest.settings import IngestSettings
from chime_kit.bots import tokens_by_bot


@dataclass
class WebhookReport:
    bot_id: int
    wanted: Webhook | None
    drift: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    set: bool = False

    def lines(self) -> list[str]:
        head = f"bot {self.bot_id}:"
        if self.error:
            return [f"{head} FAILED: {self.error}"]
        info = self.info
        out = [f"{head} {'set' if self.set else 'url'} {info.get('url') or '(none)'}"]
        out.append(
            f"  pending updates {info.get('pending_update_count', 0)},"
            f" max_connections {info.get('max_connections', '-')},"
            f" allowed_updates {info.get('allowed_updates') or '(default)'}"
        )
        if info.get("last_error_date"):
            when = datetime.fromtimestamp(info["last_error_date"], UTC).isoformat()
            out.append(f"  last error {when}: {info.get('last_error_message', '')}")
        else:
            out.append("  no delivery error")
        out += [f"  drift: {d}" for d in self.drift] or ["  no drift"]
        return out


def wanted_webhooks(settings: IngestSettings) -> dict[int, tuple[str, Webhook | None, str]]:
    """Per bot: its token, the webhook configured for it (None without a public URL) and
    its secret token."""
    key = settings.webhook_secret_key
    if key is None:
        raise SystemExit("CHIME_INGEST_WEBHOOK_SECRET_KEY is not set: no webhook to speak of")
    wanted = {}
    for bot_id, token in tokens_by_bot(settings.bot_tokens).items():
        hook = (
            Webhook(
                webhook_url(settings.public_url, bot_id),
                tuple(settings.allowed_updates),
                settings.webhook_max_connections,
            )
            if settings.public_url
            else None
        )
        secret = webhook_secret(key.get_secret_value(), bot_id)
        wanted[bot_id] = (token.get_secret_value(), hook, secret)
    return wanted


async def webhook_reports(
    settings: IngestSettings, api: TelegramBotApi, *, sync: bool
) -> list[WebhookReport]:
    """Every bot's webhook info and drift; with `sync`, after setting it as configured."""
    wanted = wanted_webhooks(settings)
    if sync and not settings.public_url:
        raise SystemExit("CHIME_INGEST_PUBLIC_URL is not set: no URL to register")

    async def one(bot_id: int, token: str, hook: Webhook | None, secret: str) -> WebhookReport:
        report = WebhookReport(bot_id, hook)
        try:
            report.info = await api.get_webhook_info(token)
            report.drift = drift(hook, report.info) if hook else []
            if sync and hook is not None:
                await api.set_webhook(
                    token,
                    hook.url,
                    secret,
                    allowed_updates=list(hook.allowed_updates),
                    max_connections=hook.max_connections,
                )
                report.set = True
                report.info = await api.get_webhook_info(token)
        except TelegramError as exc:  # never carries the URL, so never the token
            report.error = str(exc)
        return report

    return list(await asyncio.gather(*(one(bot, *parts) for bot, parts in sorted(wanted.items()))))


async def register_webhooks(settings: IngestSettings, api: TelegramBotApi) -> None:
    """On start in webhook mode with a public URL: `sync`, failing loudly if a bot failed."""
    failed = [r for r in await webhook_reports(settings, api, sync=True) if r.error]
    if failed:
        raise RuntimeError(
            "setting webhooks failed: " + "; ".join(f"bot {r.bot_id}: {r.error}" for r in failed)
        )

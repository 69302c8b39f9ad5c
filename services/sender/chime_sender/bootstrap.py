"""The sender's dependencies, built once per process; `entrypoints/service.py` runs them."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from chime_kit.bots import tokens_by_bot
from chime_kit.runtime import Runtime, open_runtime
from chime_kit.telegram import BotApi
from chime_sender.domain.circuit import BreakerRules, Breakers
from chime_sender.domain.limits import Limits
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import Policy
from chime_sender.handlers import Local, Sending, breakers
from chime_sender.settings import SERVICE, SenderSettings


@dataclass
class Dependencies:
    runtime: Runtime  # pool, unit of work, broker, outbox relay
    settings: SenderSettings
    telegram: BotApi
    sending: Sending  # the Bot API port, the policy and this process's state

    async def close(self) -> None:
        await self.telegram.aclose()
        await self.runtime.stop()


def policy_of(settings: SenderSettings) -> Policy:
    limits = Limits(
        token_rate=settings.token_rate,
        chat_interval=settings.chat_interval,
        group_rate=settings.group_rate,
        group_window=settings.group_window_seconds,
        margin=settings.limit_margin_seconds,
        horizon=settings.slot_horizon_seconds,
        lead=settings.slot_lead_seconds,
        late_max=settings.slot_late_max_seconds,
    )
    retry = RetryPolicy(
        settings.max_attempts, settings.backoff_base_seconds, settings.backoff_max_seconds
    )
    per_bot = {
        bot_id: replace(
            limits,
            token_rate=own.token_rate or limits.token_rate,
            chat_interval=limits.chat_interval if own.chat_interval is None else own.chat_interval,
            group_rate=own.group_rate or limits.group_rate,
            group_window=own.group_window_seconds or limits.group_window,
            paid_rate=own.paid_rate or 0,
        )
        for bot_id, own in settings.bot_limits.items()
    }
    return Policy(limits, retry, resend_when_unsure=settings.resend_when_unsure, per_bot=per_bot)


def breaker_rules(settings: SenderSettings) -> BreakerRules:
    return BreakerRules(
        threshold=settings.breaker_failures,
        cooldown=settings.breaker_cooldown_seconds,
        max_cooldown=settings.breaker_max_cooldown_seconds,
        probe_lease=settings.breaker_probe_lease_seconds,
    )


async def build(settings: SenderSettings) -> Dependencies:
    runtime = await open_runtime(SERVICE, settings, "chime_sender.migrations")
    telegram = BotApi(
        settings.telegram_api_base,
        connect_timeout=settings.telegram_connect_timeout_seconds,
        timeout=settings.telegram_timeout_seconds,
        max_connections=settings.telegram_max_connections,
        keepalive=settings.telegram_keepalive_seconds,
    )
    local = Local(
        breakers=Breakers(
            breaker_rules(settings), settings.breaker_refresh_seconds, time.monotonic
        ),
    )
    sending = Sending(telegram, tokens_by_bot(settings.bot_tokens), policy_of(settings), local)

    async def breaker_section() -> dict[str, object]:
        return {"bots": breakers.describe(sending)}

    runtime.report("breakers", breaker_section)
    return Dependencies(runtime, settings, telegram, sending)

"""The emulator's core: state, rate limiter, faults and update delivery wired together."""

import re
import time
from typing import Any, Literal

import httpx

from chime_emulator import updates
from chime_emulator.config import EmulatorConfig
from chime_emulator.errors import unauthorized
from chime_emulator.faults import FaultBook
from chime_emulator.limits import RateLimiter
from chime_emulator.state import Bot, EmulatorState, PendingUpdate
from chime_emulator.webhook import WebhookDelivery

AUTO_REGISTER_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")
REGISTERED_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")

# "filtered": the bot's allowed_updates excludes the kind, so Telegram never stores it.
Delivery = Literal["webhook", "queued", "filtered"]


def now_epoch() -> int:
    return int(time.time())


class Emulator:
    def __init__(
        self, config: EmulatorConfig, webhook_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self._webhook_transport = webhook_transport
        self.state = EmulatorState()
        self.limiter = RateLimiter(config.rate_limits, config.clock)
        self.faults = FaultBook()
        self.webhooks = WebhookDelivery(config, self.state.stats, webhook_transport)
        self._register_configured_bots()

    def _register_configured_bots(self) -> None:
        for token in self.config.bot_tokens:
            self.state.register_bot(token)

    def authenticate(self, token: str) -> Bot:
        bot = self.state.bots_by_token.get(token)
        if bot is not None:
            return bot
        if (
            self.config.auto_register
            and AUTO_REGISTER_TOKEN.fullmatch(token)
            # a known bot id with another token is a revoked token, not a new bot
            and int(token.split(":", 1)[0]) not in self.state.bots_by_id
        ):
            return self.state.register_bot(token)
        raise unauthorized()

    def enqueue(self, bot: Bot, payload: Any) -> PendingUpdate | None:
        """Adds an update to the bot's queue, numbering it unless it already has a number.

        As Telegram, allowed_updates applies when an update is created: an excluded kind is
        never queued (None), and updates already queued stay when the setting changes."""
        if not updates.is_allowed(payload, bot.allowed_updates):
            return None
        wanted = payload.get("update_id") if isinstance(payload, dict) else None
        update_id = bot.allocate_update_id(wanted if isinstance(wanted, int) else None)
        if isinstance(payload, dict) and "update_id" not in payload:
            payload = {"update_id": update_id} | payload
        pending = PendingUpdate(update_id, payload, updates.chat_id_of(payload))
        bot.pending.append(pending)
        self.state.stats.updates_injected += 1
        bot.notify()
        self.webhooks.kick(bot)
        return pending

    async def deliver(self, bot: Bot, payload: Any, *, wait: bool) -> dict[str, Any]:
        delivery: Delivery = "webhook" if bot.webhook_url else "queued"
        pending = self.enqueue(bot, payload)
        if pending is None:
            return {"update_id": None, "delivery": "filtered"}
        answer: dict[str, Any] = {"update_id": pending.update_id, "delivery": delivery}
        if not wait or delivery == "queued":
            return answer
        # No await since enqueue(), so the delivery worker cannot have finished yet.
        result = await self.webhooks.result_of(bot, pending.update_id)
        return answer | {"status": result.status, "error": result.error}

    async def reset(self) -> None:
        await self.webhooks.aclose()
        for bot in self.state.bots_by_id.values():
            bot.notify()  # long polls see the reset and return
        self.state = EmulatorState()
        self.limiter = RateLimiter(self.config.rate_limits, self.config.clock)
        self.faults = FaultBook()
        self.webhooks = WebhookDelivery(self.config, self.state.stats, self._webhook_transport)
        self._register_configured_bots()

    async def aclose(self) -> None:
        await self.webhooks.aclose()

"""The Bot API methods the emulator implements, each taking already-read parameters."""

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chime_emulator import messaging
from chime_emulator.emulator import Emulator
from chime_emulator.errors import ApiError, bad_request
from chime_emulator.params import Params, get_bool, get_int, get_str, get_str_list
from chime_emulator.state import Bot

SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLLING_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@dataclass(frozen=True)
class Described:
    """A result that Telegram accompanies with a description, like setWebhook's."""

    result: Any
    description: str


Method = Callable[[Emulator, Bot, Params], Awaitable[Any]]


async def get_me(emulator: Emulator, bot: Bot, params: Params) -> Any:
    return bot.get_me()


async def set_webhook(emulator: Emulator, bot: Bot, params: Params) -> Any:
    url = (get_str(params, "url") or "").strip()
    if not url:
        return await delete_webhook(emulator, bot, params)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = get_str(params, "secret_token") or None
    if secret is not None and not SECRET_TOKEN.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = get_int(params, "max_connections", 40) or 40
    allowed_updates = get_str_list(params, "allowed_updates")
    if get_bool(params, "drop_pending_updates"):
        bot.pending.clear()
        emulator.webhooks.abandon_waiters(bot, "pending updates dropped")
    already_set = bot.webhook_url == url and bot.webhook_secret == secret
    bot.webhook_url, bot.webhook_secret = url, secret
    bot.max_connections = min(100, max(1, max_connections))
    if allowed_updates is not None:
        bot.allowed_updates = allowed_updates
    bot.notify()
    emulator.webhooks.kick(bot)
    return Described(True, "Webhook is already set" if already_set else "Webhook was set")


async def delete_webhook(emulator: Emulator, bot: Bot, params: Params) -> Any:
    was_set = bool(bot.webhook_url)
    bot.webhook_url, bot.webhook_secret = "", None
    emulator.webhooks.abandon_waiters(bot, "webhook deleted")
    emulator.webhooks.kick(bot)  # its dispatcher sees the webhook gone and stops
    if get_bool(params, "drop_pending_updates"):
        bot.pending.clear()
    bot.notify()
    return Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")


async def get_webhook_info(emulator: Emulator, bot: Bot, params: Params) -> Any:
    info: dict[str, Any] = {
        "url": bot.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(bot.pending),
    }
    if bot.last_error_date is not None:
        info["last_error_date"] = bot.last_error_date
        info["last_error_message"] = bot.last_error_message
    if bot.webhook_url:
        info["max_connections"] = bot.max_connections
        if bot.allowed_updates:
            info["allowed_updates"] = bot.allowed_updates
    return info


def _confirm(bot: Bot, offset: int) -> None:
    """Forgets updates the offset confirms, as Telegram does."""
    if offset > 0:
        while bot.pending and bot.pending[0].update_id < offset:
            bot.pending.popleft()
    elif offset < 0:
        while len(bot.pending) > -offset:
            bot.pending.popleft()


def _take(bot: Bot, limit: int) -> list[Any]:
    return [pending.payload for pending in itertools.islice(bot.pending, limit)]


async def get_updates(emulator: Emulator, bot: Bot, params: Params) -> Any:
    if bot.webhook_url:
        raise ApiError(409, WEBHOOK_CONFLICT)
    offset = get_int(params, "offset", 0) or 0
    limit = min(100, max(1, get_int(params, "limit", 100) or 100))
    timeout = max(0, get_int(params, "timeout", 0) or 0)
    allowed_updates = get_str_list(params, "allowed_updates")
    if allowed_updates is not None:
        bot.allowed_updates = allowed_updates
    bot.poll_generation += 1
    generation = bot.poll_generation
    bot.notify()  # an older long poll of this bot now ends with a conflict
    _confirm(bot, offset)
    deadline = time.monotonic() + timeout
    while True:
        changed = bot.changed
        if bot.poll_generation != generation:
            raise ApiError(409, POLLING_CONFLICT)
        if bot.webhook_url:
            raise ApiError(409, WEBHOOK_CONFLICT)
        found = _take(bot, limit)
        remaining = deadline - time.monotonic()
        if found or remaining <= 0 or emulator.state.bots_by_id.get(bot.id) is not bot:
            return found
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)


METHODS: dict[str, Method] = {
    "getme": get_me,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "getupdates": get_updates,
    "sendmessage": messaging.send_message,
    "sendphoto": messaging.send_photo,
    "senddocument": messaging.send_document,
    "editmessagetext": messaging.edit_message_text,
    "editmessagecaption": messaging.edit_message_caption,
    "editmessagereplymarkup": messaging.edit_message_reply_markup,
    "deletemessage": messaging.delete_message,
    "sendchataction": messaging.send_chat_action,
    "answercallbackquery": messaging.answer_callback_query,
}

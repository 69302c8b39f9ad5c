"""What each bot's webhook should be, and how Telegram's differs from it (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Webhook:
    """A bot's webhook as configured here (Telegram never shows the secret token back)."""

    url: str
    allowed_updates: tuple[str, ...]
    max_connections: int


def webhook_url(public_url: str, bot_id: int) -> str:
    return f"{public_url.rstrip('/')}/telegram/{bot_id}/webhook"


def drift(wanted: Webhook, info: dict[str, Any]) -> list[str]:
    """How getWebhookInfo's answer differs from `wanted`, one line per field."""
    found: list[str] = []
    if info.get("url", "") != wanted.url:
        theirs_url = info.get("url") or "(none)"
        found.append(f"url: Telegram has {theirs_url!r}, configured {wanted.url!r}")
    if not info.get("url"):
        return found  # the rest is only shown for a set webhook
    # Telegram leaves allowed_updates out when it is its default (an empty list).
    theirs = tuple(info.get("allowed_updates") or ())
    if sorted(theirs) != sorted(wanted.allowed_updates):
        found.append(
            f"allowed_updates: Telegram has {list(theirs) or '(default)'},"
            f" configured {list(wanted.allowed_updates) or '(default)'}"
        )
    if info.get("max_connections", wanted.max_connections) != wanted.max_connections:
        found.append(
            f"max_connections: Telegram has {info.get('max_connections')},"
            f" configured {wanted.max_connections}"
        )
    return found

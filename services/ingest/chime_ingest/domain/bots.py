"""Webhook secrets, one per bot."""

import hashlib
import hmac


def webhook_secret(key: str, bot_id: int) -> str:
    """The secret_token for one bot: derived, so no per-bot secret is stored anywhere.

    Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -; hex qualifies.
    """
    return hmac.new(key.encode(), f"webhook:{bot_id}".encode(), hashlib.sha256).hexdigest()


def secret_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())

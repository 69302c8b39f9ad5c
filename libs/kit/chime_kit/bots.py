"""Bot tokens as settings: `CHIME_<SERVICE>_BOT_TOKENS` holds a JSON list or a comma list."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic_settings import NoDecode

# A Telegram bot token: the bot's id, a colon, a secret of url-safe characters. The one
# pattern that accepts tokens and finds them in log lines (`telemetry.redact`).
TOKEN_PATTERN = r"(\d+):[A-Za-z0-9_-]{20,}"  # noqa: S105 - a pattern, not a secret
_TOKEN = re.compile(f"^{TOKEN_PATTERN}$")


def bot_id_of(token: str) -> int:
    """A bot's id is the number before the colon of its token."""
    match = _TOKEN.match(token)
    if match is None:
        raise ValueError("not a Telegram bot token")
    return int(match.group(1))


def _split(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _check(tokens: list[SecretStr]) -> list[SecretStr]:
    for index, token in enumerate(tokens):
        if _TOKEN.match(token.get_secret_value()) is None:
            # Never echo the value: it is a secret.
            raise ValueError(f"bot token #{index} is not '<bot id>:<secret>'")
    return tokens


BotTokens = Annotated[list[SecretStr], NoDecode, BeforeValidator(_split), AfterValidator(_check)]


def tokens_by_bot(tokens: list[SecretStr]) -> dict[int, SecretStr]:
    return {bot_id_of(t.get_secret_value()): t for t in tokens}

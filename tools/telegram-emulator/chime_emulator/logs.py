"""Logging of the emulator's server: bot tokens never reach a log line.

Bot API paths carry the token (`/bot<token>/sendMessage`), as Telegram's do, and uvicorn's
access log prints every path; the filter here replaces the token on every handler.
"""

import copy
import logging
import re
from typing import Any

import uvicorn.config

# `/bot` then a token (`<bot id>:<secret>`, the colon possibly percent-encoded).
_TOKEN_IN_PATH = re.compile(r"/bot\d+(?::|%3[aA])[^/\s?\"]*")


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub("/bot<token>", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging, each handler filtered through `RedactTokens`."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_tokens")
    return config

"""Notifications asked for through the API, and how their status follows the sender."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from ulid import ULID

ID_PREFIX = "ntf_"
DELIVERY_PREFIX = "api:"
ParseMode = Literal["HTML", "MarkdownV2"]


class Status(StrEnum):
    ACCEPTED = "accepted"
    SENT = "sent"
    FAILED = "failed"
    # Telegram may have delivered it (no answer came, or the sender died mid-call); it is
    # not sent again. Not a failure: a client that resends on failure would send it twice.
    UNKNOWN = "unknown"


class NoBotError(ValueError):
    """Neither the request nor the settings name a bot to send with."""


@dataclass(frozen=True)
class Failure:
    reason: str
    error_code: int | None
    description: str | None
    permanent: bool


@dataclass(frozen=True)
class Notification:
    id: str
    api_key_id: str
    bot_id: int
    chat_id: int
    parse_mode: ParseMode | None
    status: Status
    created_at: datetime
    sent_at: datetime | None = None
    telegram_message_id: int | None = None
    failure: Failure | None = None


def new_notification_id() -> str:
    return f"{ID_PREFIX}{ULID()}"


def delivery_id(notification_id: str) -> str:
    return f"{DELIVERY_PREFIX}{notification_id}"


def notification_id_of(delivery: str) -> str | None:
    """The notification a sender delivery id belongs to; None if the api did not ask for it."""
    if not delivery.startswith(DELIVERY_PREFIX):
        return None
    rest = delivery.removeprefix(DELIVERY_PREFIX)
    return rest if rest.startswith(ID_PREFIX) and len(rest) > len(ID_PREFIX) else None


def resolve_bot(requested: int | None, default: int | None) -> int:
    if requested is not None:
        return requested
    if default is not None:
        return default
    raise NoBotError("bot_id is required: no default bot is configured")


def may_become(current: Status, outcome: Status) -> bool:
    """Whether an outcome from the sender replaces the current status.

    Sent is final: Telegram has the message, whatever failure report arrives after it
    (events may arrive out of order). A failure never overwrites an earlier failure's
    details, a later success does.
    """
    if outcome is Status.SENT:
        return current is not Status.SENT
    if outcome in (Status.FAILED, Status.UNKNOWN):
        return current is Status.ACCEPTED
    return False

"""Notifications asked for through the API, and how their status follows the sender."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from ulid import ULID

from chime_api.domain.keys import owner_of
from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    MessageDeleteRequested,
    MessageEditRequested,
    MessageSent,
    NotificationRequested,
    SendFailed,
)
from chime_contracts.events.shared import SendSource
from chime_kit.streams import Aggregate

ID_PREFIX = "ntf_"
DELIVERY_PREFIX = "api:"
# The sender routes its outcomes as `<type>.notification`; the api binds only those.
SOURCE_KIND = "notification"
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
    owner: str
    bot_id: int
    chat_id: int
    parse_mode: ParseMode | None
    status: Status
    created_at: datetime
    sent_at: datetime | None = None
    telegram_message_id: int | None = None
    failure: Failure | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None


def new_notification_id() -> str:
    return f"{ID_PREFIX}{ULID()}"


def delivery_id(notification_id: str) -> str:
    """The sender's id of the one message a notification asks for (never parsed back: the
    outcome names the notification in its `source`)."""
    return f"{DELIVERY_PREFIX}{notification_id}"


def source_of(notification_id: str) -> SendSource:
    return SendSource(kind=SOURCE_KIND, id=notification_id)


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


# --- the notification stream: decided from, folded into the read model ------------------


@dataclass(frozen=True)
class NotificationState:
    requested: bool = False
    status: Status = Status.ACCEPTED
    deleted: bool = False


class NotEditableError(Exception):
    """Only a sent message that was not deleted can be edited or deleted."""


def _evolve(state: NotificationState, event: Event) -> NotificationState:
    if isinstance(event, NotificationRequested):
        return NotificationState(requested=True)
    if isinstance(event, MessageSent | SendFailed):
        return replace(state, status=outcome_of(event))
    if isinstance(event, MessageDeleteRequested):
        return replace(state, deleted=True)
    return state


NOTIFICATION = Aggregate(NotificationState(), _evolve)


def stream_of(notification_id: str) -> str:
    return f"notification-{notification_id}"


def outcome_of(event: MessageSent | SendFailed) -> Status:
    if isinstance(event, MessageSent):
        return Status.SENT
    return Status.UNKNOWN if event.outcome_unknown else Status.FAILED


def evolve_notification(known: Notification | None, envelope: Envelope[Any]) -> Notification | None:
    """The notifications projection's row after an event of its stream (both projections,
    in memory and on PostgreSQL, fold with this). None: no such notification yet."""
    e = envelope.data
    if isinstance(e, NotificationRequested):
        return Notification(
            id=e.notification_id, api_key_id=e.api_key_id, owner=owner_of(e.api_key_id, e.team),
            bot_id=e.bot_id, chat_id=e.chat_id, parse_mode=e.parse_mode, status=Status.ACCEPTED,
            created_at=e.requested_at,
        )  # fmt: skip
    if known is None:
        return None
    if isinstance(e, MessageSent):
        return replace(
            known, status=Status.SENT, sent_at=e.sent_at,
            telegram_message_id=e.telegram_message_id, failure=None,
        )  # fmt: skip
    if isinstance(e, SendFailed):
        failure = Failure(e.reason, e.error_code, e.description, e.permanent)
        return replace(known, status=outcome_of(e), failure=failure)
    if isinstance(e, MessageEditRequested):
        return replace(known, edited_at=envelope.occurred_at)
    if isinstance(e, MessageDeleteRequested):
        return replace(known, deleted_at=envelope.occurred_at)
    return known


def keep_outcome(state: NotificationState, envelope: Envelope[Any]) -> Sequence[Envelope[Any]]:
    """The sender's outcome joins the stream as it came, if it changes the status."""
    if not state.requested or not may_become(state.status, outcome_of(envelope.data)):
        return []
    return [envelope]


def edit(state: NotificationState, event: Event) -> Sequence[Event]:
    """An edit or a deletion of the message: only once it is sent, and not after deletion."""
    if state.status is not Status.SENT or state.deleted:
        raise NotEditableError
    return [event]

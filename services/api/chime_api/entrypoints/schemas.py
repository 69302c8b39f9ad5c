"""Request and response bodies of the HTTP API (its public, documented shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chime_api.domain.notifications import Notification, Status
from chime_api.domain.problems import MEDIA_TYPE
from chime_api.handlers.notifications import NotificationRequest

# Telegram's chat and user (bot) ids "have at most 52 significant bits" (Bot API).
TELEGRAM_ID = 2**52 - 1
# Telegram takes 4096 characters a message; the sender splits longer text into several.
MAX_TEXT = 4096 * 8


class NotificationIn(BaseModel):
    # Strict: `true` is not chat 1, nor "1" or 1.0.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"chat_id": 42, "text": "Deploy finished"}]},
    )

    chat_id: int = Field(ge=-TELEGRAM_ID, le=TELEGRAM_ID, description="Telegram chat to send to")
    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        # PostgreSQL cannot store U+0000, and Telegram would not show it.
        json_schema_extra={"pattern": "^[^\\u0000]*$"},
    )
    bot_id: int | None = Field(
        default=None, gt=0, le=TELEGRAM_ID, description="defaults to the configured default bot"
    )
    parse_mode: Literal["HTML", "MarkdownV2"] | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text must not be blank")
        if "\x00" in text:
            raise ValueError("text must not contain U+0000 (NUL)")
        return text

    def request(self, bot_id: int) -> NotificationRequest:
        return NotificationRequest(self.chat_id, bot_id, self.text, self.parse_mode)


class NotificationAccepted(BaseModel):
    id: str
    status: Literal["accepted"] = "accepted"
    chat_id: int
    bot_id: int
    created_at: datetime

    @classmethod
    def of(cls, n: Notification) -> NotificationAccepted:
        return cls(id=n.id, chat_id=n.chat_id, bot_id=n.bot_id, created_at=n.created_at)


class FailureOut(BaseModel):
    """Why a notification failed or why its outcome is unknown."""

    reason: str
    error_code: int | None
    description: str | None
    permanent: bool


class NotificationOut(BaseModel):
    id: str
    status: Status = Field(
        description="accepted (not delivered yet), sent, failed (not delivered: `failure` says"
        " why), or unknown (Telegram may have delivered it: no answer came, or the sender died"
        " mid-call; it is not sent again, and `failure.reason` says so)"
    )
    chat_id: int
    bot_id: int
    created_at: datetime
    sent_at: datetime | None = None
    telegram_message_id: int | None = None
    failure: FailureOut | None = None

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        failure = n.failure
        return cls(
            id=n.id,
            status=n.status,
            chat_id=n.chat_id,
            bot_id=n.bot_id,
            created_at=n.created_at,
            sent_at=n.sent_at,
            telegram_message_id=n.telegram_message_id,
            failure=FailureOut(
                reason=failure.reason,
                error_code=failure.error_code,
                description=failure.description,
                permanent=failure.permanent,
            )
            if failure is not None
            else None,
        )


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class FieldErrorOut(BaseModel):
    location: str
    message: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldErrorOut] | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the problem responses of a route."""
    return {
        status: {"model": ProblemOut, "content": {MEDIA_TYPE: {}}, "description": "problem"}
        for status in statuses
    }

"""Request and response bodies of the HTTP API (its public, documented shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from chime_api.domain.notifications import Notification, Status
from chime_api.domain.problems import MEDIA_TYPE
from chime_api.handlers.notifications import NotificationRequest
from chime_contracts.events.schedules import MessageTemplate
from chime_contracts.events.shared import InlineButton, Media

# Telegram's chat and user (bot) ids "have at most 52 significant bits" (Bot API).
TELEGRAM_ID = 2**52 - 1
# Telegram takes 4096 characters a message; the sender splits longer text into several.
MAX_TEXT = 4096 * 8
TOPIC_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class NotificationIn(BaseModel):
    # Strict: `true` is not chat 1, nor "1" or 1.0.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"chat_id": 42, "text": "Deploy finished"},
                {
                    "user_id": 1234567,
                    "text": "Hi {name}, your order {order} shipped",
                    "variables": {"name": "Ann", "order": "#1042"},
                    "buttons": [[{"text": "Track", "url": "https://example.com/t/1042"}]],
                },
                {"topic": "outages", "text": "EU region degraded", "at": "2030-03-02T09:00:00Z"},
            ]
        },
    )

    chat_id: int | None = Field(
        default=None, ge=-TELEGRAM_ID, le=TELEGRAM_ID, description="Telegram chat to send to"
    )
    user_id: int | None = Field(
        default=None, gt=0, le=TELEGRAM_ID, description="a user, in their private chat"
    )
    topic: str | None = Field(
        default=None, pattern=TOPIC_PATTERN, description="every subscriber of a topic"
    )
    at: AwareDatetime | None = Field(default=None, strict=False, description="absent: now")
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
    variables: dict[str, Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, max_length=50, description="`text` is then a template: `{name}`"
    )
    buttons: list[list[InlineButton]] | None = Field(
        default=None, max_length=10, description="an inline keyboard: rows of buttons"
    )
    media: Media | None = Field(default=None, description="a photo or document; text captions it")
    disable_notification: bool = False
    protect_content: bool = False
    disable_link_preview: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> NotificationIn:
        if sum(t is not None for t in (self.chat_id, self.user_id, self.topic)) != 1:
            raise ValueError("give exactly one of chat_id, user_id, topic")
        return self

    @property
    def chat(self) -> int | None:
        return self.chat_id if self.chat_id is not None else self.user_id

    def template(self) -> MessageTemplate:
        return MessageTemplate(
            text=self.text, parse_mode=self.parse_mode, variables=self.variables,
            buttons=self.buttons, media=self.media, disable_notification=self.disable_notification,
        )  # fmt: skip

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text must not be blank")
        if "\x00" in text:
            raise ValueError("text must not contain U+0000 (NUL)")
        return text

    def request(self, bot_id: int, chat_id: int) -> NotificationRequest:
        return NotificationRequest(
            chat_id, bot_id, self.text, self.parse_mode, self.variables, self.buttons,
            self.media, self.disable_notification, self.protect_content,
            self.disable_link_preview,
        )  # fmt: skip


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
    edited_at: datetime | None = Field(default=None, description="last edit asked for")
    deleted_at: datetime | None = Field(default=None, description="deletion asked for")

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
            edited_at=n.edited_at,
            deleted_at=n.deleted_at,
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

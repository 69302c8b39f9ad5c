"""Events published by ingest: Telegram's side of the door."""

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event


class UpdateReceived(Event):
    """A Telegram update was accepted and stored durably (deduplicated per bot)."""

    type: Literal["update.received.v1"] = "update.received.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    update_id: int
    kind: str = Field(description="the Update field present, e.g. 'message', 'my_chat_member'")
    chat_id: int | None = None
    user_id: int | None = None
    update: dict[str, Any] = Field(description="the update as Telegram sent it")


class UserStarted(Event):
    """A user sent /start to a bot."""

    type: Literal["user.started.v1"] = "user.started.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    user_id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


class ReminderRequested(Event):
    """A user asked to be reminded of something once, at `due_at`."""

    type: Literal["reminder.requested.v1"] = "reminder.requested.v1"
    producer: ClassVar[str] = "ingest"

    reminder_id: str = Field(min_length=1, description="unique; the scheduler stores it once")
    bot_id: int
    chat_id: int
    user_id: int
    text: str = Field(min_length=1)
    due_at: datetime
    time_zone: str = Field(description="IANA zone the user wrote the time in")
    phrase: str = Field(description="the time phrase as the user wrote it")


class TimeZoneSet(Event):
    """A chat chose the IANA time zone its times are read and shown in."""

    type: Literal["time_zone.set.v1"] = "time_zone.set.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    user_id: int
    time_zone: str = Field(description="IANA name, e.g. Europe/Kyiv")

"""Events published by the api: the front door for internal services."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event
from chime_contracts.events.shared import ParseMode


class NotificationRequested(Event):
    """An internal service asked for a message to a chat through the API."""

    type: Literal["notification.requested.v1"] = "notification.requested.v1"
    producer: ClassVar[str] = "api"

    notification_id: str
    api_key_id: str
    bot_id: int
    chat_id: int
    text: str = Field(min_length=1)
    requested_at: datetime
    parse_mode: ParseMode | None = None
    team: str | None = Field(default=None, description="the team of the key that asked")

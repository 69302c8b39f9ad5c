"""Events published by the sender: Telegram's side of the way out."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event
from chime_contracts.events.shared import SendSource


class _Outcome(Event):
    """An outcome of a delivery, routed as `<type>.<source kind>` so a producer binds its own."""

    source: SendSource | None = Field(default=None, description="the request's source")

    def routing_key(self) -> str:
        return f"{self.type}.{self.source.kind}" if self.source else self.type


class MessageSent(_Outcome):
    """Telegram accepted a message."""

    type: Literal["message.sent.v1"] = "message.sent.v1"
    producer: ClassVar[str] = "sender"

    delivery_id: str
    bot_id: int
    chat_id: int
    telegram_message_id: int
    attempts: int = Field(
        description="how many times the sender took it to send: each a call to Telegram,"
        " except a send slot a busy sender missed or a call a 429 postponed (no call made)"
    )
    sent_at: datetime


class SendFailed(_Outcome):
    """A message could not be delivered; `permanent` says whether retrying could help.

    `outcome_unknown`: Telegram may have delivered it (the call got no answer, or the sender
    died while it was in flight); it is not sent again.
    """

    type: Literal["send.failed.v1"] = "send.failed.v1"
    producer: ClassVar[str] = "sender"

    delivery_id: str
    bot_id: int
    chat_id: int
    reason: str
    error_code: int | None = None
    description: str | None = None
    permanent: bool
    attempts: int = Field(
        description="how many times the sender took it to send: each a call to Telegram,"
        " except a send slot a busy sender missed or a call a 429 postponed (no call made)"
    )
    failed_at: datetime
    outcome_unknown: bool = False


class ChatBlocked(Event):
    """A chat blocked the bot (or removed it); nothing more is sent there."""

    type: Literal["chat.blocked.v1"] = "chat.blocked.v1"
    producer: ClassVar[str] = "sender"

    bot_id: int
    chat_id: int
    detected_by: Literal["send_forbidden"]
    blocked_at: datetime

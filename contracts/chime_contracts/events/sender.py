"""Events published by the sender: Telegram's side of the way out."""

from datetime import datetime
from typing import ClassVar, Literal

from chime_contracts.envelope import Event


class MessageSent(Event):
    """Telegram accepted a message."""

    type: Literal["message.sent.v1"] = "message.sent.v1"
    producer: ClassVar[str] = "sender"

    delivery_id: str
    bot_id: int
    chat_id: int
    telegram_message_id: int
    attempts: int
    sent_at: datetime


class SendFailed(Event):
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
    attempts: int
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

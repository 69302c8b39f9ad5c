"""Events more than one service may publish."""

from typing import ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event

ParseMode = Literal["HTML", "MarkdownV2"]


class SendRequested(Event):
    """Someone asked for a message to reach a chat now.

    `delivery_id` is unique per message: the sender delivers each id at most once.
    """

    type: Literal["send.requested.v1"] = "send.requested.v1"
    producer: ClassVar[str] = "ingest, scheduler, api"

    delivery_id: str = Field(min_length=1, max_length=200)
    bot_id: int
    chat_id: int
    text: str = Field(min_length=1)
    parse_mode: ParseMode | None = None
    reply_to_message_id: int | None = None
    origin: str = Field(description="what asked for it, e.g. 'ingest.reply', 'api'")

"""Events more than one service may publish, and the parts of a message they share."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chime_contracts.envelope import Event

ParseMode = Literal["HTML", "MarkdownV2"]

# The kinds of source Chime's own services use. A source kind is also the last word of the
# routing key of the sender's outcomes (`message.sent.v1.notification`), so a consumer binds
# only the outcomes of its own requests. New kinds may appear; consumers ignore unknown ones.
SOURCE_KINDS = (
    "reply",  # ingest answering a command
    "confirmation",  # the scheduler confirming a schedule to its chat
    "reminder",  # a one-shot reminder firing
    "schedule",  # an occurrence of a recurring schedule (cron, RRULE, pings)
    "snooze",  # a snoozed reminder firing again
    "broadcast",  # one recipient of a broadcast to a topic
    "notification",  # an API notification
)


class SendSource(BaseModel):
    """What asked for a message: a kind and the id of the thing of that kind.

    Structured, so nobody parses delivery ids: the api finds its notifications by
    `kind == "notification"` and `id`, the scheduler its occurrences by `kind == "schedule"`.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: str = Field(
        pattern=r"^[a-z][a-z_]{0,31}$",
        description="one of " + ", ".join(SOURCE_KINDS) + "; a word of a routing key",
    )
    id: str = Field(min_length=1, max_length=200, description="id of the source's thing")


class InlineButton(BaseModel):
    """One button of an inline keyboard: a link, or a callback to the bot."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str = Field(min_length=1, max_length=64)
    url: str | None = None
    callback_data: str | None = Field(
        default=None, description="at most 64 bytes of UTF-8, as Telegram allows"
    )

    @model_validator(mode="after")
    def _exactly_one_action(self) -> "InlineButton":
        if (self.url is None) == (self.callback_data is None):
            raise ValueError("a button has exactly one of url and callback_data")
        if self.callback_data is not None and len(self.callback_data.encode()) > 64:
            raise ValueError("callback_data is longer than 64 bytes")
        return self


class Media(BaseModel):
    """A photo or document to send, by HTTP URL or Telegram file_id; the text is its caption."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["photo", "document"]
    file: str = Field(min_length=1, description="an http(s) URL or a Telegram file_id")


class SendRequested(Event):
    """Someone asked for a message to reach a chat now.

    `delivery_id` is unique per message: the sender delivers each id at most once.
    `source` says who asked and for what; the sender's outcomes carry it back. When
    `variables` is given, `text` is a template (`{name}` placeholders) and each variable is
    escaped for `parse_mode` before it is put in, never the template itself.
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
    source: SendSource | None = Field(
        default=None, description="structured origin; every Chime producer sets it"
    )
    variables: dict[str, str] | None = None
    buttons: list[list[InlineButton]] | None = Field(
        default=None, description="an inline keyboard, rows of buttons"
    )
    media: Media | None = None
    disable_notification: bool = False
    protect_content: bool = False
    disable_link_preview: bool = False
    scheduled_for: datetime | None = Field(
        default=None, description="when it was meant to go out (occurrences); for lag"
    )


class BatchDelivery(BaseModel):
    """One delivery of a batch whose deliveries differ (a firing batch's occurrences): its
    own id, chat, message, source and trace, whole; nothing of it comes from the batch."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    delivery_id: str = Field(min_length=1, max_length=200, description="unique per message")
    chat_id: int
    text: str = Field(min_length=1)
    parse_mode: ParseMode | None = None
    source: SendSource
    variables: dict[str, str] | None = None
    buttons: list[list[InlineButton]] | None = None
    media: Media | None = None
    disable_notification: bool = False
    scheduled_for: datetime | None = Field(
        default=None, description="when it was meant to go out (occurrences); for lag"
    )
    traceparent: str | None = Field(
        default=None, description="W3C traceparent the delivery continues (else the batch's)"
    )
    correlation_id: str | None = Field(
        default=None, max_length=200, description="the delivery's correlation id (else the batch's)"
    )


class SendBatchRequested(Event):
    """One message to many chats of one bot (a broadcast's slice), in one bus message; or,
    with `deliveries`, many different messages to chats of one bot (a firing batch's
    occurrences).

    Without `deliveries` the sender makes one delivery per chat, identified by (`batch_id`,
    chat id): `<batch_id>:<chat_id>`. With `deliveries` it makes exactly those, each by its
    own `delivery_id`, with its own message, source, `scheduled_for` and trace; `chat_ids`
    then lists their chats and the batch's own message fields and `source` (which a producer
    fills from its first delivery) are not used. Either way a redelivered batch sends nobody
    twice, and each outcome carries its delivery's `source` and chat id.
    """

    type: Literal["send.batch.requested.v1"] = "send.batch.requested.v1"
    producer: ClassVar[str] = "scheduler, api"

    batch_id: str = Field(min_length=1, max_length=150, description="unique per batch")
    bot_id: int
    chat_ids: list[int] = Field(min_length=1, max_length=5000)
    text: str = Field(min_length=1)
    parse_mode: ParseMode | None = None
    source: SendSource
    variables: dict[str, str] | None = None
    buttons: list[list[InlineButton]] | None = None
    media: Media | None = None
    disable_notification: bool = False
    protect_content: bool = False
    disable_link_preview: bool = False
    paid_broadcast: bool = Field(
        default=False, description="allow_paid_broadcast where the bot is allowed to"
    )
    scheduled_for: datetime | None = None
    deliveries: list[BatchDelivery] | None = Field(
        default=None,
        max_length=5000,
        description="each delivery whole (its own id, message, source, trace); the batch's"
        " message fields and source are then not used. Consumers older than this field"
        " would send the batch's text to `chat_ids`: upgrade them before a producer sets it",
    )

    @model_validator(mode="after")
    def _deliveries_name_the_chats(self) -> "SendBatchRequested":
        if self.deliveries is not None and [d.chat_id for d in self.deliveries] != self.chat_ids:
            raise ValueError("chat_ids must list the deliveries' chats, in order")
        return self


class MessageEditRequested(Event):
    """Change the text (and keyboard) of a message Chime sent earlier.

    The message is named by `delivery_id`, or, when the requester saw it in an update (a
    pressed button), by `bot_id`, `chat_id` and Telegram's `message_id`.
    """

    type: Literal["message.edit.requested.v1"] = "message.edit.requested.v1"
    producer: ClassVar[str] = "ingest, scheduler, api"

    edit_id: str = Field(min_length=1, max_length=200, description="unique per edit")
    delivery_id: str | None = Field(default=None, description="the delivery to edit")
    bot_id: int | None = None
    chat_id: int | None = None
    message_id: int | None = Field(default=None, description="Telegram's id of the message")
    text: str | None = Field(default=None, min_length=1)
    parse_mode: ParseMode | None = None
    variables: dict[str, str] | None = None
    buttons: list[list[InlineButton]] | None = Field(
        default=None, description="the new keyboard; [] removes it; None keeps it"
    )
    source: SendSource | None = None

    @model_validator(mode="after")
    def _names_one_message(self) -> "MessageEditRequested":
        by_message = None not in (self.bot_id, self.chat_id, self.message_id)
        if (self.delivery_id is None) == (not by_message):
            raise ValueError("name the message by delivery_id or by bot_id, chat_id, message_id")
        return self


class MessageDeleteRequested(Event):
    """Delete a message Chime sent earlier, found by delivery id."""

    type: Literal["message.delete.requested.v1"] = "message.delete.requested.v1"
    producer: ClassVar[str] = "api"

    delete_id: str = Field(min_length=1, max_length=200, description="unique per delete")
    delivery_id: str
    source: SendSource | None = None

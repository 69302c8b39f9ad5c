"""Facts: what the history log holds and the projection folds, each about one message (or
block) of one chat at one time. Outgoing facts are already joined with their request."""

from __future__ import annotations

from datetime import datetime
from string import Formatter
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chime_contracts.events import MessageReceived


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True)

    bot_id: int
    chat_id: int
    at: datetime = Field(description="when the message is in the chat: its partition")


class Received(_Fact):
    """A message reached a bot; an edit names the original's time and message id."""

    kind: Literal["received"] = "received"
    message_id: int
    user_id: int | None = None
    content_type: str
    text: str | None = None
    command: str | None = None
    reply_to_message_id: int | None = None
    edited_at: datetime | None = None


class Outcome(_Fact):
    """A delivery ended: sent (with Telegram's message id) or failed (with its reason)."""

    kind: Literal["sent", "failed"]
    delivery_id: str
    message_id: int | None = None
    text: str | None = Field(default=None, description="None while the request is unseen")
    source_kind: str | None = None
    api_key_id: str | None = None
    latency_ms: float | None = None
    reason: str | None = None


class TextJoined(_Fact):
    """The request of a delivery whose outcome came first: its text for the row at `at`, and
    the latency a sent one had (counted now, as it could not be before)."""

    kind: Literal["text"] = "text"
    delivery_id: str
    text: str
    api_key_id: str | None = None
    latency_ms: float | None = None


class Blocked(_Fact):
    """The bot was blocked in a private chat (or removed from a group)."""

    kind: Literal["blocked"] = "blocked"


Fact = Annotated[Received | Outcome | TextJoined | Blocked, Field(discriminator="kind")]
FACT: TypeAdapter[Fact] = TypeAdapter(Fact)


def received_of(event: MessageReceived) -> Received:
    """An edit keeps the original's date, so it lands on the original's row."""
    return Received(
        bot_id=event.bot_id,
        chat_id=event.chat_id,
        at=event.sent_at,
        message_id=event.message_id,
        user_id=event.user_id,
        content_type=event.content_type,
        text=event.text,
        command=event.command,
        reply_to_message_id=event.reply_to_message_id,
        edited_at=event.edited_at,
    )


def filled(template: str, variables: dict[str, str] | None) -> str:
    """A request's text as the chat reads it: `{name}` placeholders filled (unescaped)."""
    if not variables:
        return template
    out: list[str] = []
    try:
        for literal, name, _, _ in Formatter().parse(template):
            out.append(literal)
            if name is not None:
                out.append(variables.get(name, "{" + name + "}"))
    except ValueError:  # not a template after all: kept as written
        return template
    return "".join(out)


def chat_key(bot_id: int, chat_id: int) -> str:
    return f"{bot_id}:{chat_id}"

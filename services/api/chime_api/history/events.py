"""The event the api records when a chat's history is forgotten (kept in its own store)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from chime_contracts.envelope import Event
from chime_kit.event_store import register_private


class ChatHistoryForgotten(Event):
    """A chat's history and stats were erased on request; what was erased, and by whom."""

    type: Literal["chat.history.forgotten.v1"] = "chat.history.forgotten.v1"
    producer: ClassVar[str] = "api"

    bot_id: int
    chat_id: int
    messages: int
    facts: int
    forgotten_at: datetime
    api_key_id: str | None = None


register_private(ChatHistoryForgotten)

"""History's routes: messages received, send requests (single and batch), every outcome of
every send (all source kinds), and a bot's blocking. The api's router puts them on one
queue per event type with its other projections (`chime_api.entrypoints.consumers`)."""

from typing import Any

from chime_api.history import handlers
from chime_contracts.envelope import Event
from chime_contracts.events import (
    ChatMemberChanged,
    MessageReceived,
    MessageSent,
    SendBatchRequested,
    SendFailed,
    SendRequested,
)
from chime_kit.consumer import Route


def history_routes() -> list[tuple[type[Event], Route[Any]]]:
    """Each (event, route); a route's inbox name is the queue it had on its own."""
    return [
        (MessageReceived, Route(handlers.message_received, inbox="api.history-received")),
        (SendRequested, Route(handlers.send_requested, inbox="api.history-requested")),
        (SendBatchRequested, Route(handlers.batch_requested, inbox="api.history-batch-requested")),
        (MessageSent, Route(handlers.send_outcome, inbox="api.history-sent")),
        (SendFailed, Route(handlers.send_outcome, inbox="api.history-failed")),
        (ChatMemberChanged, Route(handlers.member_changed, inbox="api.history-member")),
    ]

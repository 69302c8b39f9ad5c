"""History's subscribers: messages received, send requests (single and batch), every
outcome of every send (all source kinds), and a bot's blocking."""

from chime_api.history import handlers
from chime_contracts.events import (
    ChatMemberChanged,
    MessageReceived,
    MessageSent,
    SendBatchRequested,
    SendFailed,
    SendRequested,
)
from chime_contracts.routing import every_refinement_of
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime


def history_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router, queue="api.history-received", event=MessageReceived,
        handler=handlers.message_received,
    )  # fmt: skip
    runtime.subscribe(
        router, queue="api.history-requested", event=SendRequested,
        handler=handlers.send_requested,
    )  # fmt: skip
    runtime.subscribe(
        router, queue="api.history-batch-requested", event=SendBatchRequested,
        handler=handlers.batch_requested,
    )  # fmt: skip
    for event, queue in ((MessageSent, "api.history-sent"), (SendFailed, "api.history-failed")):
        runtime.subscribe(
            router, queue=queue, event=event, handler=handlers.send_outcome,
            binding=every_refinement_of(event.type_name()),
        )  # fmt: skip
    runtime.subscribe(
        router, queue="api.history-member", event=ChatMemberChanged,
        handler=handlers.member_changed,
    )  # fmt: skip
    return router

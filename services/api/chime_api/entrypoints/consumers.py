"""Broker subscribers of the api: the sender's outcomes update notification status."""

from chime_api import handlers
from chime_contracts.events import MessageSent, SendFailed
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime


def build_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router,
        queue="api.message-sent",
        event=MessageSent,
        handler=handlers.record_message_sent,
    )
    runtime.subscribe(
        router,
        queue="api.send-failed",
        event=SendFailed,
        handler=handlers.record_send_failed,
    )
    return router

"""Broker subscribers of the sender: each binds one event to one handler.

The handlers only store deliveries; their NOTIFY wakes every replica's delivery loop when
the consuming transaction commits.
"""

from chime_contracts.events import NotificationDue, SendRequested
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime
from chime_sender import handlers

SEND_REQUESTED = "sender.send-requested"
NOTIFICATION_DUE = "sender.notification-due"
QUEUES = (SEND_REQUESTED, NOTIFICATION_DUE)


def build_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router, queue=SEND_REQUESTED, event=SendRequested, handler=handlers.store_send_request
    )
    runtime.subscribe(
        router,
        queue=NOTIFICATION_DUE,
        event=NotificationDue,
        handler=handlers.store_due_notification,
    )
    return router

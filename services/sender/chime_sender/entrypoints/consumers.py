"""Broker subscribers of the sender: each binds one event to one handler.

The handlers only store deliveries; their NOTIFY wakes every replica's delivery loop when
the consuming transaction commits.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import NotificationDue, SendRequested
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime
from chime_kit.streams import Work
from chime_kit.unit_of_work import UnitOfWork
from chime_sender.adapters.postgres import stores
from chime_sender.handlers import store
from chime_sender.ports import Stores

E = TypeVar("E", bound=Event)

SEND_REQUESTED = "sender.send-requested"
NOTIFICATION_DUE = "sender.notification-due"
QUEUES = (SEND_REQUESTED, NOTIFICATION_DUE)


def bound(
    handler: Callable[[Work, Stores, Envelope[E]], Awaitable[Any]],
) -> Callable[[UnitOfWork, Envelope[E]], Awaitable[None]]:
    """A handler as the kit's consumer calls it, with the ports on the same connection."""

    async def consume(uow: UnitOfWork, envelope: Envelope[E]) -> None:
        await handler(uow, stores(uow.conn), envelope)

    return consume


def build_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router,
        queue=SEND_REQUESTED,
        event=SendRequested,
        handler=bound(store.store_send_request),
    )
    runtime.subscribe(
        router,
        queue=NOTIFICATION_DUE,
        event=NotificationDue,
        handler=bound(store.store_due_notification),
    )
    return router

"""Broker subscribers of the sender: each binds one event to one handler.

The handlers only store deliveries; their NOTIFY wakes every replica's delivery loop when
the consuming transaction commits.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    ChatAssigned,
    ChatAssignmentConfirmed,
    ChatMemberChanged,
    ChatMigrated,
    MessageDeleteRequested,
    MessageEditRequested,
    NotificationDue,
    SendBatchRequested,
    SendRequested,
    UserStarted,
)
from chime_kit.consumer import Route, Router
from chime_kit.runtime import Runtime
from chime_kit.streams import Work
from chime_kit.unit_of_work import UnitOfWork
from chime_sender.adapters.postgres import stores
from chime_sender.handlers import assignments, chats, store
from chime_sender.ports import Stores

E = TypeVar("E", bound=Event)

SEND_REQUESTED = "sender.send-requested"
NOTIFICATION_DUE = "sender.notification-due"
SEND_BATCH_REQUESTED = "sender.send-batch-requested"
# Requests that become deliveries: the delivery loop holds back a delivery requested after
# the oldest one these queues are still storing.
QUEUES = (SEND_REQUESTED, NOTIFICATION_DUE, SEND_BATCH_REQUESTED)


def bound(
    handler: Callable[[Work, Stores, Envelope[E]], Awaitable[Any]],
) -> Callable[[UnitOfWork, Envelope[E]], Awaitable[None]]:
    """A handler as the kit's consumer calls it, with the ports on the same connection."""

    async def consume(uow: UnitOfWork, envelope: Envelope[E]) -> None:
        await handler(uow, stores(uow.conn), envelope)

    return consume


def gathered(
    request: Callable[[Work, Envelope[E]], store.Request],
) -> Callable[[UnitOfWork, Envelope[E]], Awaitable[None]]:
    """A request stored with the rest of its batch (`store.Requests`), just before the
    batch's transaction commits."""

    async def consume(uow: UnitOfWork, envelope: Envelope[E]) -> None:
        requests = uow.before_commit("sender.requests", lambda: store.Requests(stores(uow.conn)))
        requests.pending.append(request(uow, envelope))

    return consume


# Requests a batch's transaction stores together (`store.Requests`): each queue, its event and
# what makes the request of one.
GATHERED: tuple[tuple[str, type[Event], Callable[[Work, Any], store.Request]], ...] = (
    (SEND_REQUESTED, SendRequested, store.send_request),
    (NOTIFICATION_DUE, NotificationDue, store.due_notification),
)

# What each other queue of the sender consumes, and the handler it goes to.
SUBSCRIPTIONS: tuple[tuple[str, type[Event], Callable[..., Awaitable[Any]]], ...] = (
    (SEND_BATCH_REQUESTED, SendBatchRequested, store.store_send_batch),
    ("sender.message-edit-requested", MessageEditRequested, store.store_edit),
    ("sender.message-delete-requested", MessageDeleteRequested, store.store_delete),
    ("sender.chat-member-changed", ChatMemberChanged, chats.chat_reported),
    ("sender.chat-migrated", ChatMigrated, chats.chat_migrated),
    # Bot pools: which bots each chat started, so none is sent through another of its pool.
    ("sender.chat-assigned", ChatAssigned, assignments.chat_assigned),
    ("sender.assignment-confirmed", ChatAssignmentConfirmed, assignments.assignment_confirmed),
)

# A /start matters to two projections: the chats the sender may send to, and the bots each
# chat started (pools). One queue feeds both, in one transaction per message; each route
# claims under the name of the queue it had on its own, and the pools' old queue is retired
# (unbound, drained into this one, deleted).
USER_STARTED = "sender.user-started"
POOL_USER_STARTED = "sender.pool-user-started"
USER_STARTED_ROUTES: tuple[Route[UserStarted], ...] = (
    Route(bound(chats.chat_reported), inbox=USER_STARTED),
    Route(bound(assignments.user_started), inbox=POOL_USER_STARTED),
)


def build_router(runtime: Runtime) -> Router:
    router = Router()
    for queue, event, request in GATHERED:
        runtime.subscribe(router, queue=queue, event=event, handler=gathered(request))
    for queue, event, handler in SUBSCRIPTIONS:
        runtime.subscribe(router, queue=queue, event=event, handler=bound(handler))
    runtime.subscribe(
        router, queue=USER_STARTED, event=UserStarted, routes=USER_STARTED_ROUTES,
        retired=[POOL_USER_STARTED],
    )  # fmt: skip
    return router

"""Broker subscribers of the api, one queue per event type: the sender's outcomes of the
api's own notifications and broadcasts (routed `<type>.notification`, `<type>.broadcast`),
the scheduler's results (kept only for the api's own schedules and broadcasts), the slices
of its broadcasts and the chats they skipped, ingest's and the sender's events about chats,
and history's routes (`chime_api.history.entrypoints.consumers`: every send outcome)."""

from typing import Any

from chime_api.adapters.chats import PostgresChats
from chime_api.adapters.notifications import PostgresNotifications
from chime_api.adapters.recipients import PostgresRecipients
from chime_api.adapters.schedules import PostgresRequests
from chime_api.domain import recipients as recipient
from chime_api.domain.chats import CHAT_EVENTS
from chime_api.domain.notifications import SOURCE_KIND
from chime_api.domain.schedules import RESULTS
from chime_api.handlers import chats, notifications, recipients, schedules
from chime_api.history.entrypoints.consumers import history_routes
from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageSent,
    SendBatchRequested,
    SendFailed,
)
from chime_kit.consumer import Route, Router
from chime_kit.runtime import Runtime
from chime_kit.unit_of_work import UnitOfWork


async def notification_outcome(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    await notifications.record_outcome(uow, PostgresNotifications(uow.conn), envelope)


async def chat_event(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    await chats.record_chat_event(uow, PostgresChats(uow.conn), envelope)


async def broadcast_slice(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    await recipients.record_slice(uow, PostgresRecipients(uow.conn), envelope)


async def broadcast_skipped(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    await recipients.record_skipped(uow, PostgresRecipients(uow.conn), envelope)


async def broadcast_outcome(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    await recipients.record_outcome(uow, PostgresRecipients(uow.conn), envelope)


async def scheduler_result(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    await schedules.record_result(uow, PostgresRequests(uow.conn), envelope)


def _queue(event: type[Any], prefix: str = "") -> str:
    name = event.type_name().removesuffix(".v1").replace(".", "-").replace("_", "-")
    return f"api.{prefix}{name}"


def own_routes() -> list[tuple[type[Event], Route[Any]]]:
    """Each (event, route) of the api's projections but history; a route's inbox name is
    the queue it had on its own."""
    routes: list[tuple[type[Event], Route[Any]]] = []
    for outcome, kind in ((MessageSent, "sent"), (SendFailed, "failed")):
        routes += [
            (outcome, Route(notification_outcome, inbox=f"api.notification-{kind}",
                            binding=f"{outcome.type_name()}.{SOURCE_KIND}")),
            (outcome, Route(broadcast_outcome, inbox=f"api.broadcast-{kind}",
                            binding=f"{outcome.type_name()}.{recipient.SOURCE_KIND}")),
        ]  # fmt: skip
    routes += [(result, Route(scheduler_result, inbox=_queue(result))) for result in RESULTS]
    routes += [
        (SendBatchRequested, Route(broadcast_slice, inbox="api.broadcast-slices")),
        (BroadcastRecipientsSkipped, Route(broadcast_skipped, inbox="api.broadcast-skipped")),
    ]
    routes += [(event, Route(chat_event, inbox=_queue(event, "chats-"))) for event in CHAT_EVENTS]
    return routes


def build_router(runtime: Runtime) -> Router:
    """One queue per event type the api follows, so each message reaches the api once and
    every projection that wants it applies it in the same transaction. An event with one
    route keeps that route's queue; one with several is consumed from
    `api.projections-<event>`, and the queues its routes had on their own (named as their
    inboxes) are retired: unbound, drained into it, deleted."""
    by_event: dict[type[Event], list[Route[Any]]] = {}
    for event, route in [*own_routes(), *history_routes()]:
        by_event.setdefault(event, []).append(route)
    router = Router()
    for event, routes in by_event.items():
        if len(routes) == 1:
            runtime.subscribe(router, queue=routes[0].inbox, event=event, routes=routes)
        else:
            runtime.subscribe(
                router, queue=_queue(event, "projections-"), event=event, routes=routes,
                retired=[route.inbox for route in routes],
            )  # fmt: skip
    return router

"""Broker subscribers of the api: the sender's outcomes of the api's own notifications and
broadcasts only (routed `<type>.notification`, `<type>.broadcast`), not every send outcome;
the scheduler's results (kept only for the api's own schedules and broadcasts), the
slices of its broadcasts and the chats they skipped; ingest's and the sender's events about
chats."""

from typing import Any

from chime_api.adapters.chats import PostgresChats
from chime_api.adapters.notifications import PostgresNotifications
from chime_api.adapters.recipients import PostgresRecipients
from chime_api.domain import recipients as recipient
from chime_api.domain.chats import CHAT_EVENTS
from chime_api.domain.notifications import SOURCE_KIND
from chime_api.domain.schedules import RESULTS
from chime_api.handlers import chats, notifications, recipients, schedules
from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageSent,
    SendBatchRequested,
    SendFailed,
)
from chime_kit.consumer import Router
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


def _queue(event: type[Any], prefix: str = "") -> str:
    name = event.type_name().removesuffix(".v1").replace(".", "-").replace("_", "-")
    return f"api.{prefix}{name}"


def build_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router,
        queue="api.notification-sent",
        event=MessageSent,
        handler=notification_outcome,
        binding=f"{MessageSent.type_name()}.{SOURCE_KIND}",
    )
    runtime.subscribe(
        router,
        queue="api.notification-failed",
        event=SendFailed,
        handler=notification_outcome,
        binding=f"{SendFailed.type_name()}.{SOURCE_KIND}",
    )
    for result in RESULTS:
        runtime.subscribe(
            router, queue=_queue(result), event=result, handler=schedules.record_result
        )
    runtime.subscribe(
        router, queue="api.broadcast-slices", event=SendBatchRequested, handler=broadcast_slice
    )
    runtime.subscribe(
        router, queue="api.broadcast-skipped", event=BroadcastRecipientsSkipped,
        handler=broadcast_skipped,
    )  # fmt: skip
    for outcome, queue in (
        (MessageSent, "api.broadcast-sent"),
        (SendFailed, "api.broadcast-failed"),
    ):
        runtime.subscribe(
            router, queue=queue, event=outcome, handler=broadcast_outcome,
            binding=f"{outcome.type_name()}.{recipient.SOURCE_KIND}",
        )  # fmt: skip
    for event in CHAT_EVENTS:
        runtime.subscribe(router, queue=_queue(event, "chats-"), event=event, handler=chat_event)
    return router

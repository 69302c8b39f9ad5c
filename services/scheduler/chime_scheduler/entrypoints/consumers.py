"""Broker subscribers of the scheduler: each binds one event to one handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastRequested,
    ChatBlocked,
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    ListingRequested,
    MessageSent,
    ReminderRequested,
    ScheduleChangeRequested,
    ScheduleRequested,
    SendFailed,
    SnoozeRequested,
    SubscriptionRequested,
    TimeZoneSet,
)
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime
from chime_kit.streams import Work
from chime_kit.unit_of_work import UnitOfWork
from chime_scheduler import handlers
from chime_scheduler.ports import Reminders, Store, StoreOf

E = TypeVar("E", bound=Event)


async def _note(uow: Work, store: Store, envelope: Envelope[Any]) -> None:
    await handlers.note_chat(uow, store, envelope)


def build_router(runtime: Runtime, store_of: StoreOf) -> Router:
    """Each handler gets the repositories (`store_of`, from bootstrap) on its consumer's
    connection."""
    router = Router()

    def with_store(
        handler: Callable[[Work, Store, Envelope[E]], Awaitable[None]],
    ) -> Callable[[UnitOfWork, Envelope[E]], Awaitable[None]]:
        async def bound(uow: UnitOfWork, envelope: Envelope[E]) -> None:
            await handler(uow, store_of(uow.conn), envelope)

        return bound

    def with_reminders(
        handler: Callable[[UnitOfWork, Reminders, Envelope[E]], Awaitable[None]],
    ) -> Callable[[UnitOfWork, Envelope[E]], Awaitable[None]]:
        async def bound(uow: UnitOfWork, envelope: Envelope[E]) -> None:
            await handler(uow, store_of(uow.conn).reminders, envelope)

        return bound

    def on(
        name: str, event: type[E], handler: Callable[[Work, Store, Envelope[E]], Awaitable[None]],
        binding: str | None = None,
    ) -> None:  # fmt: skip
        runtime.subscribe(
            router, queue=f"scheduler.{name}", event=event, handler=with_store(handler),
            binding=binding,
        )  # fmt: skip

    runtime.subscribe(
        router, queue="scheduler.reminder-requested", event=ReminderRequested,
        handler=with_reminders(handlers.schedule_reminder),
    )  # fmt: skip
    runtime.subscribe(
        router, queue="scheduler.snooze-requested", event=SnoozeRequested,
        handler=with_reminders(handlers.schedule_snooze),
    )  # fmt: skip
    on("schedule-requested", ScheduleRequested, handlers.request_schedule)
    on("schedule-change-requested", ScheduleChangeRequested, handlers.change_schedule)
    on("listing-requested", ListingRequested, handlers.answer_listing)
    on("subscription-requested", SubscriptionRequested, handlers.subscribe)
    on("broadcast-requested", BroadcastRequested, handlers.request_broadcast)
    on("broadcast-cancel-requested", BroadcastCancelRequested, handlers.cancel_broadcast)
    on("chat-stopped", ChatStopped, handlers.chat_stopped)
    on("chat-resumed", ChatResumed, handlers.chat_resumed)
    on("time-zone-set", TimeZoneSet, handlers.time_zone_set)
    on("chat-migrated", ChatMigrated, handlers.chat_migrated)
    on("chat-blocked", ChatBlocked, _note)
    on("chat-member-changed", ChatMemberChanged, _note)
    on("language-set", LanguageSet, _note)
    # Only the outcomes of broadcasts: the sender routes each as <type>.<source kind>.
    on("broadcast-sent", MessageSent, handlers.count_sent, "message.sent.v1.broadcast")
    on("broadcast-failed", SendFailed, handlers.count_failed, "send.failed.v1.broadcast")
    return router

"""Broker subscribers of the scheduler: each binds one event to one handler."""

from faststream.rabbit import RabbitRouter

from chime_contracts.events import ReminderRequested
from chime_kit.runtime import Runtime
from chime_scheduler import handlers
from chime_scheduler.adapters.postgres import with_reminders


def build_router(runtime: Runtime) -> RabbitRouter:
    router = RabbitRouter()
    runtime.subscribe(
        router,
        queue="scheduler.reminder-requested",
        event=ReminderRequested,
        handler=with_reminders(handlers.schedule_reminder),
    )
    return router

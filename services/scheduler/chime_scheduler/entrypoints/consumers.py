"""Broker subscribers of the scheduler: each binds one event to one handler."""

from chime_contracts.events import ReminderRequested
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime
from chime_scheduler import handlers
from chime_scheduler.adapters.postgres import with_reminders


def build_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router,
        queue="scheduler.reminder-requested",
        event=ReminderRequested,
        handler=with_reminders(handlers.schedule_reminder),
    )
    return router

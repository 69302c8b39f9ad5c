"""Broker subscribers of the scheduler: each binds one event to one handler."""

from chime_contracts.events import ReminderRequested
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime
from chime_scheduler import handlers


def build_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router,
        queue="scheduler.reminder-requested",
        event=ReminderRequested,
        handler=handlers.schedule_reminder,
    )
    return router

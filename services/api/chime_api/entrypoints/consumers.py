"""Broker subscribers of the api: the sender's outcomes of the api's own notifications only
(routed `<type>.notification`), not every send outcome; the scheduler's results (kept only
for the api's own schedules and broadcasts)."""

from chime_api.domain.notifications import SOURCE_KIND
from chime_api.domain.schedules import RESULTS
from chime_api.handlers import notifications, schedules
from chime_contracts.events import MessageSent, SendFailed
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime


def build_router(runtime: Runtime) -> Router:
    router = Router()
    runtime.subscribe(
        router,
        queue="api.notification-sent",
        event=MessageSent,
        handler=notifications.record_outcome,
        binding=f"{MessageSent.type_name()}.{SOURCE_KIND}",
    )
    runtime.subscribe(
        router,
        queue="api.notification-failed",
        event=SendFailed,
        handler=notifications.record_outcome,
        binding=f"{SendFailed.type_name()}.{SOURCE_KIND}",
    )
    for result in RESULTS:
        name = result.type_name().removesuffix(".v1").replace(".", "-")
        runtime.subscribe(
            router, queue=f"api.{name}", event=result, handler=schedules.record_result
        )
    return router

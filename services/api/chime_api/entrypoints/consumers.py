"""Broker subscribers of the api: the sender's outcomes of the api's own notifications only
(routed `<type>.notification`), not every send outcome."""

from chime_api.domain.notifications import SOURCE_KIND
from chime_api.handlers import notifications
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
    return router

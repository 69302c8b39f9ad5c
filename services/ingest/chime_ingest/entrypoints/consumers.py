"""Broker subscribers of ingest."""

from functools import partial

from chime_contracts.events import UpdateReceived
from chime_ingest import handlers
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime


def build_router(runtime: Runtime, default_time_zone: str) -> Router:
    router = Router()
    runtime.subscribe(
        router,
        queue="ingest.update-received",
        event=UpdateReceived,
        handler=partial(handlers.interpret_update, default_time_zone=default_time_zone),
    )
    return router

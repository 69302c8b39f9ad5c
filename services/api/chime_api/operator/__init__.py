"""The operator page: live delivery rate, queue depths, schedule lag, recent failures,
blocked chats and per-bot load, for a person holding an admin key.

`mount(app)` adds its routes and runs its event tap within the app's lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from chime_api.operator.live import Live, OperatorSettings
from chime_api.operator.routes import router


def mount(app: FastAPI, settings: OperatorSettings | None = None) -> None:
    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[Any]:
        async with inner(running) as state:
            service = running.state.service
            live = Live(
                service.settings.amqp_url.get_secret_value(), settings or OperatorSettings()
            )
            await live.start()
            running.state.operator = live
            try:
                yield state
            finally:
                running.state.operator = None
                await live.stop()

    app.router.lifespan_context = lifespan

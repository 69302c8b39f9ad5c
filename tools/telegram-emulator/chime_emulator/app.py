"""The ASGI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from chime_emulator import bot_api, control
from chime_emulator.config import EmulatorConfig
from chime_emulator.emulator import Emulator


def create_app(
    config: EmulatorConfig, *, webhook_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Builds a fresh emulator; webhook_transport lets tests route webhooks in-process."""
    emulator = Emulator(config, webhook_transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await emulator.aclose()

    # Not traced: it stands in for Telegram, whose spans would carry tokens in their paths.
    app = FastAPI(
        title="Chime Telegram Bot API emulator", lifespan=lifespan, telemetry={"tracing": False}
    )
    app.state.emulator = emulator
    app.include_router(control.build_router(emulator))
    app.include_router(bot_api.build_router(emulator))
    return app

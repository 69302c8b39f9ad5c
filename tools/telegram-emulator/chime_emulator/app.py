"""The ASGI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chime_emulator import bot_api, control
from chime_emulator.config import EmulatorConfig
from chime_emulator.emulator import Emulator

INJECT_PATH = "/_emulator/messages"


class EmulatorApp(FastAPI):
    """FastAPI for the control API; the two hot paths are answered before its routing:
    the Bot API (`/bot<token>/<method>`) and `POST /_emulator/messages`."""

    emulator: Emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/bot"):
                await bot_api.serve(self.emulator, scope, receive, send)
                return
            if path == INJECT_PATH and scope["method"] == "POST":
                await _inject(self.emulator, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _inject(emulator: Emulator, scope: Scope, receive: Receive, send: Send) -> None:
    """POST /_emulator/messages, answered as its FastAPI route would answer it."""
    raw = await Request(scope, receive).body()
    try:
        body = control.MessageIn.model_validate_json(raw)
        answer = await control.inject_message(emulator, body)
    except ValidationError as error:
        details = error.errors(include_url=False, include_context=False)
        await bot_api.send_json(send, 422, {"detail": details})
        return
    except HTTPException as error:
        await bot_api.send_json(send, error.status_code, {"detail": error.detail})
        return
    await bot_api.send_json(send, 200, answer)


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
    app = EmulatorApp(
        title="Chime Telegram Bot API emulator", lifespan=lifespan, telemetry={"tracing": False}
    )
    app.emulator = emulator
    app.state.emulator = emulator
    app.include_router(control.build_router(emulator))
    return app

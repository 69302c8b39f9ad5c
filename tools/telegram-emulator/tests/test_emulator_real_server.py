"""The emulator served by uvicorn, delivering to a webhook served by uvicorn, over real HTTP."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from emulator_harness import BOT_ID, TOKEN, WebhookReceiver

from chime_emulator.app import create_app
from chime_emulator.config import EmulatorConfig

pytestmark = pytest.mark.unit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: Callable[..., Any]) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_webhook_over_real_http() -> None:
    receiver = WebhookReceiver()
    config = EmulatorConfig(bot_tokens=(TOKEN,))
    async with (
        serve(receiver) as webhook_base,
        serve(create_app(config)) as emulator_base,
        httpx.AsyncClient(base_url=emulator_base) as client,
    ):
        set_webhook = await client.post(
            f"/bot{TOKEN}/setWebhook",
            data={"url": f"{webhook_base}/hook", "secret_token": "abc"},
        )
        assert set_webhook.json()["result"] is True
        answer = await client.post(
            "/_emulator/messages",
            json={"bot_id": BOT_ID, "chat_id": 42, "text": "/start", "wait": True},
        )
        assert answer.json()["status"] == 200
    [received] = receiver.received
    assert received.headers["x-telegram-bot-api-secret-token"] == "abc"
    assert json.loads(received.body)["message"]["text"] == "/start"

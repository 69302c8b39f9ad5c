"""The emulator served by uvicorn, delivering to a webhook served by uvicorn, over real HTTP."""

import json

import httpx
import pytest
from emulator_harness import BOT_ID, TOKEN, WebhookReceiver

from chime_emulator.app import create_app
from chime_emulator.config import EmulatorConfig
from chime_kit.testing import serving

pytestmark = pytest.mark.unit


async def test_webhook_over_real_http() -> None:
    receiver = WebhookReceiver()
    config = EmulatorConfig(bot_tokens=(TOKEN,))
    async with (
        serving(receiver, lifespan="off") as webhook_base,
        serving(create_app(config)) as emulator_base,
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

"""A bot pool end to end through the emulator: a user starts the front bot and is handed a
deep link to a worker, starts the worker and is welcomed there; a notification through
another worker of the pool, which the user never started, fails with the reason and never
reaches Telegram."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from chime_api.entrypoints.app import create_app as create_api
from chime_api.entrypoints.cli import create_key
from chime_api.settings import ApiSettings
from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.entrypoints.app import create_app as create_ingest
from chime_ingest.settings import IngestSettings
from chime_kit.testing import eventually, free_port, serving
from chime_sender.entrypoints.app import create_app as create_sender
from chime_sender.settings import SenderSettings

pytestmark = pytest.mark.e2e

FRONT, W1, W2 = 7200010, 7200011, 7200012
TOKENS = [f"{bot}:AAE2ePoolsTokenForChimeEndToEnd00001" for bot in (FRONT, W1, W2)]
LINK = re.compile(r"https://t\.me/bot(\d+)_bot\?start=([A-Za-z0-9_-]+)")
USER = 515151


class Pooled:
    def __init__(self, telegram: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
        self.telegram = telegram
        self.api = api

    async def user_says(self, bot_id: int, text: str) -> None:
        reply = await self.telegram.post(
            "/_emulator/messages",
            json={"bot_id": bot_id, "chat_id": USER, "text": text, "wait": True},
        )
        assert reply.json()["status"] == 200

    async def sent(self, bot_id: int) -> list[str]:
        body = (
            await self.telegram.get(f"/_emulator/bots/{bot_id}/sent", params={"chat_id": USER})
        ).json()
        return [m["text"] for m in body["messages"]]


@pytest.fixture
async def pooled(database_url: str, amqp_url: str) -> AsyncIterator[Pooled]:
    common: dict[str, Any] = {"database_url": database_url, "amqp_url": amqp_url}
    async with AsyncExitStack() as stack:
        telegram_url = await stack.enter_async_context(
            serving(create_emulator(EmulatorConfig(bot_tokens=tuple(TOKENS))))
        )
        ingest_port = free_port()
        api_settings = ApiSettings(**common, default_bot_id=FRONT)
        apps = [
            create_sender(
                SenderSettings(**common, bot_tokens=TOKENS, telegram_api_base=telegram_url)
            ),
            create_api(api_settings),
            create_ingest(
                IngestSettings(
                    **common, bot_tokens=TOKENS, public_url=f"http://127.0.0.1:{ingest_port}",
                    telegram_api_base=telegram_url, webhook_secret_key="e2e-pools",
                    bot_pools={"main": {"front": FRONT, "workers": [W1, W2]}},  # type: ignore[dict-item]
                )
            ),
        ]  # fmt: skip
        urls = []
        for n, app in enumerate(apps):
            port = ingest_port if n == 2 else free_port()
            urls.append(await stack.enter_async_context(serving(app, port)))
        _, key = await create_key(
            api_settings, "e2e", ["notifications:write", "notifications:read"]
        )
        telegram = await stack.enter_async_context(httpx.AsyncClient(base_url=telegram_url))
        api = await stack.enter_async_context(
            httpx.AsyncClient(base_url=urls[1], headers={"Authorization": f"Bearer {key}"})
        )
        yield Pooled(telegram, api)


async def test_a_user_is_routed_to_a_worker_and_never_sent_through_another(pooled):
    await pooled.user_says(FRONT, "/start")

    async def link() -> tuple[str, str] | None:
        found = [m for t in await pooled.sent(FRONT) for m in LINK.findall(t)]
        return found[0] if found else None

    worker_id, payload = await eventually(link)
    worker = int(worker_id)
    other = W2 if worker == W1 else W1

    await pooled.user_says(worker, f"/start {payload}")

    async def welcomed() -> bool:
        return any("I remind you of things on time" in t for t in await pooled.sent(worker))

    await eventually(welcomed)

    async def outcome(bot_id: int) -> dict[str, Any]:
        response = await pooled.api.post(
            "/v1/notifications", json={"chat_id": USER, "bot_id": bot_id, "text": "news"}
        )
        assert response.status_code == 202

        async def status() -> dict[str, Any] | None:
            body = (await pooled.api.get(f"/v1/notifications/{response.json()['id']}")).json()
            return body if body["status"] != "accepted" else None

        result: dict[str, Any] = await eventually(status)
        return result

    refused = await outcome(other)
    assert refused["status"] == "failed"
    assert refused["failure"]["permanent"] is True
    assert f"never started bot {other}" in refused["failure"]["reason"]
    assert await pooled.sent(other) == []  # Telegram was never asked

    delivered = await outcome(worker)
    assert delivered["status"] == "sent"
    assert "news" in await pooled.sent(worker)

"""Test helpers: an emulator behind an in-process client, and a fake webhook receiver."""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from chime_emulator.app import create_app
from chime_emulator.config import EmulatorConfig
from chime_emulator.emulator import Emulator

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ_-0123"
BOT_ID = 123456
WEBHOOK_URL = "http://hook.test/telegram/webhook"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A tiny ASGI app standing in for a bot's webhook endpoint."""

    received: list[ReceivedWebhook] = field(default_factory=list)
    scripted_statuses: deque[int] = field(default_factory=deque)
    # While set, requests are held until `release` is set: shows what runs concurrently.
    release: asyncio.Event | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    # Answers by body, after the scripted statuses run out: a receiver failing one chat.
    status_for: Callable[[bytes], int] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        self.received.append(ReceivedWebhook(scope["path"], headers, body))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.release is not None:
                await self.release.wait()
        finally:
            self.in_flight -= 1
        status = 200
        if self.scripted_statuses:
            status = self.scripted_statuses.popleft()
        elif self.status_for is not None:
            status = self.status_for(body)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@dataclass
class Harness:
    client: httpx.AsyncClient
    emulator: Emulator
    webhook: WebhookReceiver
    clock: FakeClock

    async def call(self, method: str, token: str = TOKEN, **params: Any) -> httpx.Response:
        return await self.client.post(f"/bot{token}/{method}", json=params)

    async def ok(self, method: str, **params: Any) -> Any:
        response = await self.call(method, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ok"] is True
        return body["result"]

    async def control(self, path: str, payload: dict[str, Any]) -> Any:
        response = await self.client.post(f"/_emulator{path}", json=payload)
        assert response.status_code == 200, response.text
        return response.json()

    async def private_chat(self, user_id: int, **fields: Any) -> dict[str, Any]:
        chat: dict[str, Any] = await self.control(
            "/chats", {"type": "private", "id": user_id} | fields
        )
        return chat


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness() -> AsyncIterator[MakeHarness]:
    """Builds emulators; by default with the bot TOKEN and no rate limits."""
    created: list[Harness] = []

    async def make(fake_clock: bool = False, **overrides: Any) -> Harness:
        clock = FakeClock()
        settings: dict[str, Any] = {
            "bot_tokens": (TOKEN,),
            "token_rate": 0,
            "private_chat_interval": 0.0,
            "group_rate_per_minute": 0,
            "webhook_backoff_s": 0.01,
            "webhook_max_attempts": 3,
        } | overrides
        if fake_clock:
            settings["clock"] = clock
        config = replace(EmulatorConfig(), **settings)
        receiver = WebhookReceiver()
        app = create_app(config, webhook_transport=httpx.ASGITransport(app=receiver))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu")
        harness = Harness(client, app.state.emulator, receiver, clock)
        created.append(harness)
        return harness

    yield make
    for harness in created:
        await harness.client.aclose()
        await harness.emulator.aclose()


@pytest.fixture
async def harness(make_harness: MakeHarness) -> Harness:
    return await make_harness()

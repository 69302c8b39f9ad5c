"""Helpers of the sender's integration tests: the emulator served by uvicorn, the sender,
and a tap on the event exchange."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from chime_contracts.envelope import Envelope, Event, envelope_of
from chime_contracts.events import SendRequested
from chime_emulator.app import create_app
from chime_emulator.config import EmulatorConfig
from chime_kit.telegram import Answer
from chime_kit.testing import EventTap, event_tap, serving
from chime_sender.entrypoints.service import Sender, create_service
from chime_sender.ports import BotApi
from chime_sender.settings import SenderSettings

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ_-0123"
BOT_ID = 123456


@dataclass
class TelegramSpy:
    """Wraps the real Bot API client: `before_call()` runs ahead of each call."""

    inner: BotApi

    def before_call(self) -> None:
        pass

    async def call(self, token: SecretStr | str, method: str, payload: dict[str, Any]) -> Answer:
        self.before_call()
        return await self.inner.call(token, method, payload)


@dataclass
class Emulator:
    base: str
    client: httpx.AsyncClient

    async def control(self, path: str, payload: dict[str, Any]) -> Any:
        response = await self.client.post(f"/_emulator{path}", json=payload)
        assert response.status_code == 200, response.text
        return response.json()

    async def private_chat(self, user_id: int) -> None:
        await self.control("/chats", {"type": "private", "id": user_id})

    async def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        params = {"chat_id": chat_id} if chat_id is not None else {}
        response = await self.client.get(f"/_emulator/bots/{BOT_ID}/sent", params=params)
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = (await self.client.get("/_emulator/stats")).json()
        return stats


@pytest.fixture
async def emulator_factory() -> AsyncIterator[Callable[..., Awaitable[Emulator]]]:
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Emulator:
            config = replace(EmulatorConfig(bot_tokens=(TOKEN,)), **overrides)
            base = await stack.enter_async_context(serving(create_app(config)))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=base))
            return Emulator(base, client)

        yield make


@pytest.fixture
async def emulator(emulator_factory: Callable[..., Awaitable[Emulator]]) -> Emulator:
    return await emulator_factory()


@pytest.fixture
def sender_settings(database_url: str, amqp_url: str) -> Callable[..., SenderSettings]:
    def make(emulator: Emulator, **overrides: Any) -> SenderSettings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "amqp_url": amqp_url,
            "bot_tokens": [TOKEN],
            "telegram_api_base": emulator.base,
            "telegram_timeout_seconds": 5.0,
            "telegram_connect_timeout_seconds": 2.0,
            "lease_seconds": 10.0,
            "relay_idle_poll_seconds": 0.02,
            "max_idle_seconds": 0.1,
            "backoff_base_seconds": 0.05,
            "backoff_max_seconds": 0.2,
            "delivery_limit": 3,
        } | overrides
        return SenderSettings(**values)

    return make


@pytest.fixture
async def start_sender(
    sender_settings: Callable[..., SenderSettings],
) -> AsyncIterator[Callable[..., Awaitable[Sender]]]:
    started: list[Sender] = []

    async def start(emulator: Emulator, **overrides: Any) -> Sender:
        # Replicas in one test process: each its own name, as pods have.
        overrides.setdefault("instance_name", f"sender-{len(started)}")
        sender = await create_service(sender_settings(emulator, **overrides))
        await sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        await sender.stop()


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    async with event_tap(amqp_url, "#") as t:
        yield t


def request(delivery_id: str, chat_id: int, text: str = "hello", **fields: Any) -> Envelope[Any]:
    event: Event = SendRequested(
        delivery_id=delivery_id,
        bot_id=fields.pop("bot_id", BOT_ID),
        chat_id=chat_id,
        text=text,
        origin="test",
        **fields,
    )
    return envelope_of(event, producer="test")

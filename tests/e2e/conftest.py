"""The whole platform in this test process: the emulator and the four services, each on a
real local port, sharing one fresh database (a schema each) and one fresh vhost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from chime_api.entrypoints.app import create_app as create_api
from chime_api.entrypoints.cli import create_key
from chime_api.settings import ApiSettings
from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_faults.stack import DEFAULT_PORTS, Stack
from chime_ingest.entrypoints.app import create_app as create_ingest
from chime_ingest.settings import IngestSettings
from chime_kit.testing import free_port, serving
from chime_scheduler.entrypoints.app import create_app as create_scheduler
from chime_scheduler.settings import SchedulerSettings
from chime_sender.entrypoints.app import create_app as create_sender
from chime_sender.settings import SenderSettings

TOKEN = "7000001:AAE2eTestTokenForChimeEndToEndFlow01"
PROCESS_TOKEN = "7100001:AAE2eTracesTokenForChimeEndToEnd0001"
ROOT = Path(__file__).resolve().parents[2]
BOT_ID = 7000001


@dataclass
class Platform:
    telegram: httpx.AsyncClient  # the emulator: Bot API and /_emulator control
    api: httpx.AsyncClient
    ingest_url: str
    services: dict[str, RunningService]

    async def user_says(self, chat_id: int, text: str) -> None:
        reply = await self.telegram.post(
            "/_emulator/messages",
            json={"bot_id": BOT_ID, "chat_id": chat_id, "text": text, "wait": True},
        )
        assert reply.json()["status"] == 200

    async def sent(self, chat_id: int) -> list[dict]:
        body = (
            await self.telegram.get(f"/_emulator/bots/{BOT_ID}/sent", params={"chat_id": chat_id})
        ).json()
        return body["messages"]


class RunningService:
    """One service on a fixed port that a test can stop and start again, as a crash would."""

    def __init__(self, build: Callable[[], Any], port: int) -> None:
        self.build = build
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._serving: AbstractAsyncContextManager[str] | None = None

    async def start(self) -> None:
        self._serving = serving(self.build(), self.port)
        await self._serving.__aenter__()

    async def stop(self) -> None:
        if self._serving is not None:
            await self._serving.__aexit__(None, None, None)
            self._serving = None


@pytest.fixture
async def platform(database_url: str, amqp_url: str) -> AsyncIterator[Platform]:
    common = {"database_url": database_url, "amqp_url": amqp_url, "log_json": False}
    async with AsyncExitStack() as stack:
        telegram_url = await stack.enter_async_context(
            serving(create_emulator(EmulatorConfig(bot_tokens=(TOKEN,))))
        )
        ingest_port = free_port()
        api_settings = ApiSettings(**common, default_bot_id=BOT_ID)
        services = {
            "scheduler": RunningService(
                lambda: create_scheduler(SchedulerSettings(**common)), free_port()
            ),
            "sender": RunningService(
                lambda: create_sender(
                    SenderSettings(**common, bot_tokens=[TOKEN], telegram_api_base=telegram_url)
                ),
                free_port(),
            ),
            "api": RunningService(lambda: create_api(api_settings), free_port()),
            # Last: it registers its webhook with the emulator when it starts.
            "ingest": RunningService(
                lambda: create_ingest(
                    IngestSettings(
                        **common,
                        bot_tokens=[TOKEN],
                        public_url=f"http://127.0.0.1:{ingest_port}",
                        telegram_api_base=telegram_url,
                        webhook_secret_key="e2e-secret",
                    )
                ),
                ingest_port,
            ),
        }
        for service in services.values():
            await service.start()
            stack.push_async_callback(service.stop)
        _, key = await create_key(
            api_settings, "e2e", ["notifications:write", "notifications:read"]
        )
        telegram = await stack.enter_async_context(httpx.AsyncClient(base_url=telegram_url))
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=services["api"].url, headers={"Authorization": f"Bearer {key}"}
            )
        )
        yield Platform(
            telegram=telegram, api=api, ingest_url=services["ingest"].url, services=services
        )


@pytest.fixture
async def process_stack(database_url: str, amqp_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """The platform as separate processes (`python -m chime_<service>`), as production runs
    it, on the test's database and vhost; logs in `tmp_path/logs`, spans in `tmp_path/traces`."""
    parts = urlsplit(database_url)
    stack = Stack(
        PROCESS_TOKEN,
        False,
        postgres=f"{parts.scheme}://{parts.netloc}",
        database=parts.path.lstrip("/"),
        amqp_url=amqp_url,
        ports={name: free_port() for name in DEFAULT_PORTS},
        logs=tmp_path / "logs",
        cwd=ROOT,
        traces=tmp_path / "traces",
        say=lambda _: None,
    )
    stack.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await stack.wait_ready(client)
        yield stack
    finally:
        stack.stop()

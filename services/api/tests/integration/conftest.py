"""The api running with its lifespan against real PostgreSQL and RabbitMQ, and a test tap."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from chime_api.entrypoints.app import create_app
from chime_api.entrypoints.cli import create_key
from chime_api.settings import ApiSettings
from chime_kit.testing import EventTap, event_tap

# The helpers module beside this file, importable by the tests as `api_support`.
sys.path.insert(0, str(Path(__file__).parent))
from api_support import running


@pytest.fixture
async def sink(amqp_url: str) -> AsyncIterator[None]:
    """A queue bound to every event, as a deployment has consumers for what the api emits.

    The kit's relay keeps an unroutable event pending and retries it at every poll; without
    a binding, notification.requested.v1 would never leave the outbox in these tests.
    """
    async with event_tap(amqp_url, "#"):
        yield


@pytest.fixture
async def settings(database_url: str, amqp_url: str, sink: None) -> ApiSettings:
    return ApiSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        default_bot_id=7,
        # Generous by default: a test of rate limits gives its key its own.
        rate_per_second=100_000,
        rate_burst=100_000,
        delivery_limit=2,
        db_pool_min=1,
    )


@pytest.fixture
async def app(settings: ApiSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as c:
        yield c


KeyMaker = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(settings: ApiSettings) -> KeyMaker:
    """A new key's plaintext, made by the code behind `python -m chime_api keys create`."""

    async def make(*scopes: str, name: str = "test", team: str | None = None) -> str:
        _, plaintext = await create_key(settings, name, list(scopes), team)
        return plaintext

    return make


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    async with event_tap(amqp_url, "send.requested.v1") as t:
        yield t

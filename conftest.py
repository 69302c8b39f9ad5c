"""Fixtures every test layer shares: a database and a RabbitMQ vhost of the test's own.

Each test that asks for them gets a fresh PostgreSQL database and a fresh vhost, dropped at
the end, so runs never collide. Where the servers are is read from CHIME_TEST_POSTGRES and
CHIME_TEST_RABBITMQ_API (defaults: the local servers).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote, urlsplit

import asyncpg
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

POSTGRES = os.environ.get("CHIME_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ_API = os.environ.get("CHIME_TEST_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672")
RABBITMQ_AMQP_PORT = int(os.environ.get("CHIME_TEST_RABBITMQ_PORT", "5672"))

_SPANS = InMemorySpanExporter()


def pytest_configure(config: pytest.Config) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_SPANS))
    trace.set_tracer_provider(provider)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _SPANS.clear()
    return _SPANS


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = _unique("chime_test")
    admin = await asyncpg.connect(POSTGRES)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlsplit(POSTGRES)._replace(path=f"/{name}").geturl()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def break_amqp_connections(amqp_url: str) -> Callable[[], Awaitable[int]]:
    """Closes every client connection of the test's vhost, as a broker restart would."""
    vhost = urlsplit(amqp_url).path.lstrip("/")
    api = urlsplit(RABBITMQ_API)
    base = f"{api.scheme}://{api.hostname}:{api.port}"
    auth = (api.username or "guest", api.password or "guest")

    async def close_all() -> int:
        async with httpx.AsyncClient(base_url=base, auth=auth, timeout=10) as client:
            # The management API lists connections only after its next statistics round.
            for _ in range(100):
                listed = (await client.get(f"/api/vhosts/{vhost}/connections")).json()
                if listed:
                    break
                await asyncio.sleep(0.1)
            for connection in listed:
                await client.delete(
                    f"/api/connections/{quote(connection['name'], safe='')}",
                    headers={"X-Reason": "test: broker connection lost"},
                )
            return len(listed)

    return close_all


@pytest.fixture
async def amqp_url() -> AsyncIterator[str]:
    vhost = _unique("chime_test")
    api = urlsplit(RABBITMQ_API)
    user, password = api.username or "guest", api.password or "guest"
    base = f"{api.scheme}://{api.hostname}:{api.port}"
    async with httpx.AsyncClient(base_url=base, auth=(user, password), timeout=10) as client:
        (await client.put(f"/api/vhosts/{vhost}")).raise_for_status()
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        (
            await client.put(f"/api/permissions/{vhost}/{quote(user)}", json=permissions)
        ).raise_for_status()
        try:
            yield f"amqp://{user}:{password}@{api.hostname}:{RABBITMQ_AMQP_PORT}/{vhost}"
        finally:
            await client.delete(f"/api/vhosts/{vhost}")


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("postgres", marks=pytest.mark.integration),
    ]
)
def contract_database(request: pytest.FixtureRequest) -> str | None:
    """A contract suite runs twice: on the in-memory fakes (None) and on a fresh database."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("database_url")
    return url

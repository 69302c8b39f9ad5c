"""Helpers of the api's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from chime_api.adapters.keys import PostgresKeys
from chime_api.adapters.memory import InMemoryKeys, InMemoryRequests
from chime_api.adapters.schedules import PostgresRequests
from chime_api.ports import Keys, Requests
from chime_contracts.envelope import Envelope, Event, envelope_of
from chime_kit.streams import Work
from chime_kit.testing import Backend, eventually

WRITE = "notify"
READ = "read"


@asynccontextmanager
async def running(app: FastAPI, raise_errors: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The app's own lifespan (runtime, consumers, relay) around an in-process client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client
        await outbox_drained(app)


async def outbox_drained(app: FastAPI, timeout: float = 5.0) -> None:
    """Stop only once the relay published what the test's requests wrote."""
    pool = app.state.service.runtime.pool

    async def empty() -> bool:
        return await pool.fetchval("SELECT count(*) FROM outbox") == 0

    await eventually(empty, within=timeout)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def from_sender(event: Event) -> Envelope[Any]:
    """An event as the sender would publish it."""
    return envelope_of(event, producer="sender")


class RequestModels:
    """The keys and requests ports of a contract case: PostgreSQL's in the unit of work, or
    the in-memory fakes (the requests fake sees the keys fake)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fake_keys = InMemoryKeys()
        self.fake_requests = InMemoryRequests(self.fake_keys)

    def keys(self, work: Work) -> Keys:
        return self.backend.pick(work, PostgresKeys, self.fake_keys)

    def requests(self, work: Work) -> Requests:
        return self.backend.pick(work, PostgresRequests, self.fake_requests)

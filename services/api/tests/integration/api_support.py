"""Helpers of the api's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from chime_contracts.envelope import Envelope, Event, envelope_of
from chime_kit.testing import eventually

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

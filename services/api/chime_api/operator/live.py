"""The operator page's sources: a tap on the events exchange and RabbitMQ's queue figures.

The tap is a server-named, exclusive queue of this replica (it goes with the connection),
bound to the outcomes, blocks and scheduled hand-overs, consumed without acks and capped
(oldest dropped first): a view, never a consumer anyone depends on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import orjson
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chime_api.operator.window import Window
from chime_kit.broker import EVENTS, close_quietly, connect_robust

log = logging.getLogger(__name__)
TAP_PREFIX = "api.operator-tap."
TAPPED = (
    "message.sent.v1.#",
    "send.failed.v1.#",
    "chat.blocked.v1.#",
    "chat.member.changed.v1.#",  # a user blocked the bot (ingest saw it before any send did)
    "notification.due.v1.#",  # a reminder fired (older schedulers)
    "schedule.fired.v1.#",  # an occurrence of a schedule fired
    "send.requested.v1.#",  # a reminder or a snooze fires as its send
)


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHIME_API_OPERATOR_", extra="ignore", hide_input_in_errors=True
    )

    rabbitmq_api: str | None = Field(
        default=None,
        description="RabbitMQ's management API, e.g. http://rabbitmq:15672 (default: the AMQP"
        " host on port 15672, with the AMQP user)",
    )
    window_seconds: int = Field(default=600, ge=60)


class Live:
    def __init__(self, amqp_url: str, settings: OperatorSettings) -> None:
        self.amqp_url = amqp_url
        self.settings = settings
        self.window = Window(time.time(), window_seconds=settings.window_seconds)
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=3.0)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="operator-tap")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()
        await self._http.aclose()

    async def _connect(self) -> None:
        pause = 1.0
        while self._connection is None:
            try:
                self._connection = await self._tap()
            except Exception as exc:  # RabbitMQ down at start: the page waits, not the api
                log.warning("operator tap cannot connect (%r); retrying", exc)
                await asyncio.sleep(pause)
                pause = min(30.0, pause * 2)

    async def _tap(self) -> AbstractRobustConnection:
        connection = await connect_robust(self.amqp_url)
        try:
            channel = await connection.channel()
            exchange = await EVENTS.declare(channel)
            queue = await channel.declare_queue(
                f"{TAP_PREFIX}{uuid.uuid4().hex[:12]}",
                exclusive=True,
                arguments={"x-max-length": 10000, "x-overflow": "drop-head"},
            )
            for key in TAPPED:
                await queue.bind(exchange, key)
            await queue.consume(self._on_message, no_ack=True)
        except BaseException:  # failed or stopped half-way: nothing may keep reconnecting
            await close_quietly(connection)
            raise
        return connection

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        with contextlib.suppress(orjson.JSONDecodeError):
            self.window.observe(orjson.loads(message.body), time.time())

    def management(self) -> tuple[str, str, tuple[str, str]]:
        """The management API's base URL, the vhost, and the credentials."""
        amqp = urlsplit(self.amqp_url)
        vhost = unquote(amqp.path.lstrip("/")) or "/"
        base = self.settings.rabbitmq_api or f"http://{amqp.hostname}:15672"
        api = urlsplit(base)
        auth = (
            unquote(api.username or amqp.username or "guest"),
            unquote(api.password or amqp.password or "guest"),
        )
        return f"{api.scheme}://{api.hostname}:{api.port or 15672}", vhost, auth

    async def queues(self) -> dict[str, Any]:
        base, vhost, auth = self.management()
        try:
            response = await self._http.get(
                f"{base}/api/queues/{quote(vhost, safe='')}",
                params={"columns": "name,messages_ready,messages_unacknowledged,consumers"},
                auth=auth,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return {"available": False, "error": type(exc).__name__, "items": []}
        items = [
            {
                "name": q["name"],
                "ready": q.get("messages_ready", 0),
                "unacked": q.get("messages_unacknowledged", 0),
                "consumers": q.get("consumers", 0),
                "dead_letter": q["name"].endswith(".dlq"),
            }
            for q in response.json()
            if not q["name"].startswith(TAP_PREFIX)  # the taps of the api replicas
        ]
        items.sort(key=lambda q: (not q["dead_letter"] or q["ready"] == 0, -q["ready"], q["name"]))
        return {"available": True, "error": None, "items": items}

    async def snapshot(self) -> dict[str, Any]:
        figures = self.window.snapshot(time.time())
        figures["queues"] = await self.queues()
        figures["tap_connected"] = self._connection is not None
        return figures

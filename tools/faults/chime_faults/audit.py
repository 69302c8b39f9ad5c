"""Evidence gathered from outside the services, as an auditor would: the emulator's log of
what Telegram received, the api's answers, the sender's rows, the broker's queues and each
service's outbox table."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import aio_pika
import asyncpg
import httpx

from chime_faults.checker import Evidence, MessageKey, Request, SenderRow, classify

SCHEMAS = ("ingest", "scheduler", "sender", "api")


async def delivered(
    client: httpx.AsyncClient, emulator: str, bots: list[int]
) -> Counter[MessageKey]:
    counts: Counter[MessageKey] = Counter()
    for bot_id in bots:
        sent = (await client.get(f"{emulator}/_emulator/bots/{bot_id}/sent")).json()
        for message in sent["messages"]:
            found = classify(message.get("text", ""))
            if found is not None:
                counts[found] += 1
    return counts


async def sender_rows(database_url: str) -> dict[MessageKey, SenderRow]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT text, state, last_error FROM sender.deliveries")
    finally:
        await conn.close()
    found: dict[MessageKey, SenderRow] = {}
    for row in rows:
        key = classify(row["text"])
        if key is not None:
            found[key] = SenderRow(row["state"], row["last_error"])
    return found


async def outbox_backlog(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        return {
            schema: await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox")  # noqa: S608
            for schema in SCHEMAS
        }
    finally:
        await conn.close()


async def queues(client: httpx.AsyncClient, management: str) -> dict[str, int]:
    """Messages in each classic or quorum queue (the event-log stream keeps everything)."""
    listed = (await client.get(f"{management}/api/queues", auth=("guest", "guest"))).json()
    return {q["name"]: q.get("messages", 0) for q in listed if q.get("type") != "stream"}


async def exact_depths(amqp_url: str, names: list[str]) -> dict[str, int]:
    """Messages in each named queue, counted by the broker now (a passive declare): the
    management API's figures are up to a statistics interval old."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        depths = {}
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            depths[name] = queue.declaration_result.message_count or 0
        return depths


async def api_statuses(
    client: httpx.AsyncClient, api: str, key: str, requests: list[Request]
) -> dict[str, tuple[str, str | None]]:
    found: dict[str, tuple[str, str | None]] = {}
    limit = asyncio.Semaphore(20)

    async def one(notification_id: str) -> None:
        async with limit:
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(
                    f"{api}/v1/notifications/{notification_id}",
                    headers={"Authorization": f"Bearer {key}"},
                )
                if response.status_code == 200:
                    body = response.json()
                    failure = body.get("failure") or {}
                    found[notification_id] = (body["status"], failure.get("reason"))

    ids = [r.notification_id for r in requests if r.accepted and r.notification_id]
    await asyncio.gather(*(one(i) for i in ids))
    return found


async def evidence(
    client: httpx.AsyncClient, *, emulator: str, bots: list[int], database_url: str
) -> Evidence:
    return Evidence(
        delivered=await delivered(client, emulator, bots),
        sender=await sender_rows(database_url),
    )

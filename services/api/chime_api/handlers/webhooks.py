"""Outgoing webhooks: register an endpoint, deliver the owner's events to it signed, retry
with backoff, replay from a position."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import orjson

from chime_api.adapters.feed import feed_after
from chime_api.adapters.webhooks import Webhook, Webhooks
from chime_api.domain.keys import ApiKey
from chime_api.domain.webhooks import (
    SIGNATURE_HEADER,
    backoff,
    new_secret,
    new_webhook_id,
    signature,
)
from chime_kit.db import Connection

BATCH = 50
# How soon an endpoint that is up to date looks for new events again.
IDLE_SECONDS = 0.5


async def create_webhook(conn: Connection, key: ApiKey, url: str, types: list[str]) -> Webhook:
    """Delivers events from now on (not the owner's whole past: replay asks for that)."""
    position = await conn.fetchval("SELECT COALESCE(max(position), 0) FROM events")
    hook = Webhook(
        id=new_webhook_id(), owner=key.owner, api_key_id=key.id, url=url, secret=new_secret(),
        types=types, position=position, attempts=0, next_attempt_at=datetime.now(UTC),
        last_error=None, delivered=0, created_at=datetime.now(UTC),
    )  # fmt: skip
    await Webhooks(conn).add(hook)
    return hook


async def owned_webhook(conn: Connection, key: ApiKey, webhook_id: str) -> Webhook | None:
    hook = await Webhooks(conn).get(webhook_id)
    return hook if hook is not None and hook.owner == key.owner else None


async def deliver_due(conn: Connection, http: httpx.AsyncClient, limit: int = 10) -> int:
    """One round: every due endpoint gets what it has not yet acknowledged, in order, until
    one delivery fails (then it waits its backoff). Returns how many events went out."""
    sent = 0
    async with conn.transaction():
        for hook in await Webhooks(conn).claim_due(limit):
            sent += await _deliver(conn, http, hook)
    return sent


async def _deliver(conn: Connection, http: httpx.AsyncClient, hook: Webhook) -> int:
    events = await feed_after(conn, hook.owner, hook.position, hook.types, BATCH)
    position, delivered = hook.position, 0
    for event in events:
        body = orjson.dumps(event.envelope)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(hook.secret, int(time.time()), body),
            "Chime-Webhook-Id": hook.id,
            "Chime-Event-Id": str(event.envelope.get("id", "")),
            "Chime-Event-Type": event.type,
            "Chime-Event-Position": str(event.position),
        }
        try:
            response = await http.post(hook.url, content=body, headers=headers)
            ok = 200 <= response.status_code < 300
            error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            await Webhooks(conn).failed(
                hook.id, position, delivered, error, backoff(hook.attempts + 1)
            )
            return delivered
        position, delivered = event.position, delivered + 1
    await Webhooks(conn).advanced(hook.id, position, delivered, 0 if events else IDLE_SECONDS)
    return delivered

"""Outgoing webhooks: register an endpoint, rotate its secret, pause, resume, replay or
delete it, deliver the owner's events to it signed and retry with backoff. Every change,
deliveries included, is decided on the endpoint's stream and projected at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import orjson

from chime_api.adapters.feed import feed_after
from chime_api.adapters.webhooks import PostgresWebhooks, Webhook
from chime_api.domain.events import (
    WebhookCreated,
    WebhookDeleted,
    WebhookDelivered,
    WebhookDeliveryFailed,
    WebhookPaused,
    WebhookReplayed,
    WebhookResumed,
    WebhookSecretRotated,
)
from chime_api.domain.keys import ApiKey
from chime_api.domain.webhooks import (
    SIGNATURE_HEADER,
    WEBHOOK,
    backoff,
    new_secret,
    new_webhook_id,
    signature,
    stream_of,
)
from chime_contracts.envelope import Event
from chime_kit.db import Connection
from chime_kit.streams import decide
from chime_kit.unit_of_work import UnitOfWork

BATCH = 50

Decision = Callable[[Webhook | None], Sequence[Event]]


async def _decide(uow: UnitOfWork, webhook_id: str, decision: Decision) -> Webhook | None:
    """Webhook events stay in the api's store (they hold the secret): wrapped here, so
    `decide` does not publish them."""
    decided = await decide(
        uow, stream_of(webhook_id), WEBHOOK,
        lambda hook: [uow.wrap(e) for e in decision(hook)],
        project=PostgresWebhooks(uow.conn).apply,
    )  # fmt: skip
    return decided.after


async def create_webhook(uow: UnitOfWork, key: ApiKey, url: str, types: list[str]) -> Webhook:
    """Delivers events from now on (not the owner's whole past: replay asks for that)."""
    position = await uow.conn.fetchval("SELECT COALESCE(max(position), 0) FROM events")
    webhook_id = new_webhook_id()
    created = WebhookCreated(
        webhook_id=webhook_id, owner=key.owner, api_key_id=key.id, url=url, secret=new_secret(),
        types=types, position=position, created_at=datetime.now(UTC),
    )  # fmt: skip
    hook = await _decide(uow, webhook_id, lambda _: [created])
    assert hook is not None
    return hook


async def owned_webhook(conn: Connection, key: ApiKey, webhook_id: str) -> Webhook | None:
    hook = await PostgresWebhooks(conn).get(webhook_id)
    return hook if hook is not None and hook.owner == key.owner else None


async def page_of_webhooks(
    conn: Connection, key: ApiKey, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[Webhook], bool]:
    rows = await PostgresWebhooks(conn).page(key.owner, limit + 1, after)
    return rows[:limit], len(rows) > limit


async def rotate_secret(uow: UnitOfWork, webhook_id: str) -> Webhook | None:
    """A new signing secret, used from the next delivery on; None: no such webhook."""
    rotated = WebhookSecretRotated(
        webhook_id=webhook_id, secret=new_secret(), rotated_at=datetime.now(UTC)
    )
    return await _decide(uow, webhook_id, lambda hook: [rotated] if hook else [])


async def pause(uow: UnitOfWork, webhook_id: str) -> Webhook | None:
    """Nothing is delivered until it resumes; events wait (nothing is skipped)."""
    paused = WebhookPaused(webhook_id=webhook_id, paused_at=datetime.now(UTC))
    return await _decide(uow, webhook_id, lambda hook: [paused] if hook and not hook.paused else [])


async def resume(uow: UnitOfWork, webhook_id: str) -> Webhook | None:
    resumed = WebhookResumed(webhook_id=webhook_id, resumed_at=datetime.now(UTC))
    return await _decide(uow, webhook_id, lambda hook: [resumed] if hook and hook.paused else [])


async def replay(uow: UnitOfWork, webhook_id: str, after: int) -> Webhook | None:
    """Deliver again everything after `after`, from now on; None: no such webhook."""
    replayed = WebhookReplayed(
        webhook_id=webhook_id, after_position=after, replayed_at=datetime.now(UTC)
    )
    return await _decide(uow, webhook_id, lambda hook: [replayed] if hook else [])


async def delete(uow: UnitOfWork, webhook_id: str) -> bool:
    """False when there was no such webhook."""
    deleted = WebhookDeleted(webhook_id=webhook_id, deleted_at=datetime.now(UTC))
    decided = await decide(
        uow, stream_of(webhook_id), WEBHOOK,
        lambda hook: [uow.wrap(deleted)] if hook else [],
        project=PostgresWebhooks(uow.conn).apply,
    )  # fmt: skip
    return decided.before is not None


async def deliver_due(conn: Connection, http: httpx.AsyncClient, limit: int = 10) -> int:
    """One round: every due endpoint gets what it has not yet acknowledged, in order, until
    one delivery fails (then it waits its backoff). Returns how many events went out."""
    sent = 0
    async with conn.transaction():
        uow = UnitOfWork(conn, "api", None)
        for hook in await PostgresWebhooks(conn).claim_due(limit):
            sent += await _deliver(uow, http, hook)
    return sent


async def _deliver(uow: UnitOfWork, http: httpx.AsyncClient, hook: Webhook) -> int:
    events = await feed_after(uow.conn, hook.owner, hook.position, hook.types, BATCH)
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
            retry_at = datetime.now(UTC) + timedelta(seconds=backoff(hook.attempts + 1))
            failed = WebhookDeliveryFailed(
                webhook_id=hook.id, position=position, count=delivered, error=error[:500],
                retry_at=retry_at,
            )  # fmt: skip
            await _outcome(uow, hook, failed)
            return delivered
        position, delivered = event.position, delivered + 1
    if delivered:
        done = WebhookDelivered(
            webhook_id=hook.id, position=position, count=delivered,
            delivered_at=datetime.now(UTC),
        )  # fmt: skip
        await _outcome(uow, hook, done)
    return delivered


async def _outcome(uow: UnitOfWork, claimed: Webhook, outcome: Event) -> None:
    """A round's outcome is kept only if nothing moved the endpoint meanwhile (a replay, a
    pause, a delete): it describes deliveries from the position it was claimed at."""

    def keep(now: Webhook | None) -> Sequence[Event]:
        unmoved = now is not None and not now.paused and now.position == claimed.position
        return [outcome] if unmoved else []

    await _decide(uow, claimed.id, keep)

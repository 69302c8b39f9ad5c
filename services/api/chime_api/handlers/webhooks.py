"""Outgoing webhooks: register an endpoint, rotate its secret, pause, resume, replay or
delete it, deliver the owner's events to it signed and retry with backoff. Every change,
deliveries' outcomes included, is decided on the endpoint's stream and projected at once;
no transaction is open while a receiver is called (see `deliver_due`)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson
from ulid import ULID

from chime_api.adapters.feed import FeedEvent, feed_after
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
    await PostgresWebhooks(uow.conn).forget_claims(webhook_id)
    return decided.before is not None


# How long a round's claim on an endpoint lasts. A replica that dies mid-round holds its
# endpoints this long; the round itself stops posting while a call could outlast it.
LEASE_SECONDS = 60.0
# Time kept back from the lease for clocks and the outcome's transaction.
LEASE_MARGIN_SECONDS = 1.0
CALL_SECONDS = 5.0


@dataclass(frozen=True)
class Claim:
    """An endpoint held by this round and the events it has to deliver, in order."""

    hook: Webhook
    events: list[FeedEvent]


@dataclass
class Round:
    """Who delivers (a replica's holder name), for how long a claim lasts, how long one
    receiver has to answer, and the last endpoint the replica's rounds looked at (the next
    round looks on from there)."""

    holder: str
    lease_seconds: float = LEASE_SECONDS
    call_seconds: float = CALL_SECONDS
    looked_at: str = ""

    def __post_init__(self) -> None:
        if self.lease_seconds < 2 * self.call_seconds + LEASE_MARGIN_SECONDS:
            raise ValueError("a claim's lease must outlast two calls to a receiver")


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{ULID()}"


async def deliver_due(
    pool: asyncpg.Pool, http: httpx.AsyncClient, round_: Round, limit: int = 10
) -> int:
    """One round: claim due endpoints that have something new (one short transaction),
    POST each one's events in order outside any transaction (the endpoints at once), and
    record each one's outcome as it ends (a short transaction each). Returns how many
    events went out.

    Delivery is at least once: a replica that dies after a receiver acknowledged but before
    the outcome was recorded leaves its claim, and whoever takes it after the lease delivers
    those events again. No two replicas post to one endpoint at once: a claim is only
    retaken after its lease, and a round posts nothing that could end after it.
    """
    clock = asyncio.get_running_loop().time
    # Taken before the claim: the lease, counted by the database from inside the claiming
    # transaction, ends no earlier than this plus its length.
    ends = clock() + round_.lease_seconds - LEASE_MARGIN_SECONDS
    async with pool.acquire() as conn:
        claims = await claim(conn, round_, limit)
    if not claims:
        return 0
    # A task group, not gather: a round that is stopped waits for each endpoint to record
    # what it got through and give its claim back.
    async with asyncio.TaskGroup() as group:
        sent = [
            group.create_task(_deliver(pool, http, round_, c, lambda: ends - clock()))
            for c in claims
        ]
    return sum(task.result() for task in sent)


async def claim(conn: Connection, round_: Round, limit: int) -> list[Claim]:
    """Due endpoints with events to deliver, claimed for this round. One with nothing new is
    neither claimed nor written to (looking for new events writes nothing)."""
    webhooks = PostgresWebhooks(conn)
    due = await webhooks.due(limit, round_.looked_at)
    if due:
        round_.looked_at = due[-1].id
    wanted = [
        hook.id for hook in due if await feed_after(conn, hook.owner, hook.position, hook.types, 1)
    ]
    if not wanted:
        return []
    async with conn.transaction():
        held = await webhooks.claim(wanted, round_.holder, round_.lease_seconds)
    claims = []
    for hook in held:
        events = await feed_after(conn, hook.owner, hook.position, hook.types, BATCH)
        if hook.paused or hook.next_attempt_at > datetime.now(UTC) or not events:
            # changed by a round that ended meanwhile (or by a pause)
            await webhooks.release(hook.id, round_.holder)
            continue
        claims.append(Claim(hook, events))
    return claims


@dataclass
class _Progress:
    """How far a round got with one endpoint: the last event acknowledged, how many, and
    the failure that stopped it, if one did."""

    position: int
    delivered: int = 0
    failed: WebhookDeliveryFailed | None = None

    def outcome(self, hook: Webhook) -> Event | None:
        if self.failed is not None or not self.delivered:
            return self.failed
        return WebhookDelivered(
            webhook_id=hook.id, position=self.position, count=self.delivered,
            delivered_at=datetime.now(UTC),
        )  # fmt: skip


async def _deliver(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    round_: Round,
    claimed: Claim,
    left: Callable[[], float],
) -> int:
    """Post the claimed events in order until one fails or the claim could run out, then
    record how far it got and give the claim back, whatever stopped it (a replica stopping
    keeps what was acknowledged rather than leaving its claim to run out)."""
    hook = claimed.hook
    progress = _Progress(hook.position)
    try:
        for event in claimed.events:
            if left() < round_.call_seconds:
                break  # this call could outlast the claim: the next round goes on
            error = await post_event(http, hook, event, round_.call_seconds)
            if error is not None:
                retry_at = datetime.now(UTC) + timedelta(seconds=backoff(hook.attempts + 1))
                progress.failed = WebhookDeliveryFailed(
                    webhook_id=hook.id, position=progress.position, count=progress.delivered,
                    error=error[:500], retry_at=retry_at,
                )  # fmt: skip
                break
            progress.position, progress.delivered = event.position, progress.delivered + 1
    finally:
        await asyncio.shield(_record(pool, round_.holder, hook, progress.outcome(hook)))
    return progress.delivered


async def _record(pool: asyncpg.Pool, holder: str, hook: Webhook, outcome: Event | None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if outcome is not None:
            await _outcome(UnitOfWork(conn, "api", None), hook, outcome)
        await PostgresWebhooks(conn).release(hook.id, holder)


async def post_event(
    http: httpx.AsyncClient, hook: Webhook, event: FeedEvent, seconds: float
) -> str | None:
    """POST one event, signed; None once the receiver acknowledged it, else the error."""
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
        async with asyncio.timeout(seconds):  # the whole call, not each read
            response = await http.post(hook.url, content=body, headers=headers)
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


async def _outcome(uow: UnitOfWork, claimed: Webhook, outcome: Event) -> None:
    """A round's outcome is kept only if nothing moved the endpoint meanwhile (a replay, a
    pause, a delete): it describes deliveries from the position it was claimed at."""

    def keep(now: Webhook | None) -> Sequence[Event]:
        unmoved = now is not None and not now.paused and now.position == claimed.position
        return [outcome] if unmoved else []

    await _decide(uow, claimed.id, keep)

"""Signed outgoing webhooks: an endpoint's state folded from its stream `webhook-<id>`
(created, secret rotated, paused, resumed, replayed, deleted, deliveries acknowledged or
failed), how a delivery is signed (and verified by a receiver), and how long a failing
endpoint waits before the next try.

`Chime-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`.
A receiver recomputes it, compares in constant time and refuses a timestamp older than its
tolerance, so a captured delivery cannot be replayed against it later.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from ulid import ULID

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
from chime_contracts.envelope import Event
from chime_kit.streams import Aggregate

SIGNATURE_HEADER = "Chime-Signature"
TOLERANCE_SECONDS = 300
MAX_BACKOFF_SECONDS = 3600.0


def new_webhook_id() -> str:
    return f"whk_{ULID()}"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float) -> bool:
    """What a receiver does: the signature matches and is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before try number `attempts + 1`: doubling from 1 s, capped at an hour, with
    jitter so endpoints that failed together are not retried in step."""
    ceiling = min(MAX_BACKOFF_SECONDS, 2.0 ** max(0, attempts - 1))
    return ceiling * (0.5 + (rng or random).random() / 2)


@dataclass(frozen=True)
class Webhook:
    """The `webhooks` projection's row: the endpoint, and where its deliveries stand."""

    id: str
    owner: str
    api_key_id: str
    url: str
    secret: str
    types: list[str]
    position: int
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered: int
    created_at: datetime
    paused: bool = False


def stream_of(webhook_id: str) -> str:
    return f"webhook-{webhook_id}"


def evolve(hook: Webhook | None, e: Event) -> Webhook | None:
    """None: no such webhook (not created, or deleted)."""
    if isinstance(e, WebhookCreated):
        return Webhook(
            id=e.webhook_id, owner=e.owner, api_key_id=e.api_key_id, url=e.url, secret=e.secret,
            types=list(e.types), position=e.position, attempts=0, next_attempt_at=e.created_at,
            last_error=None, delivered=0, created_at=e.created_at,
        )  # fmt: skip
    if hook is None or isinstance(e, WebhookDeleted):
        return None
    if isinstance(e, WebhookSecretRotated):
        return replace(hook, secret=e.secret)
    if isinstance(e, WebhookPaused):
        return replace(hook, paused=True)
    if isinstance(e, WebhookResumed):
        return replace(hook, paused=False, attempts=0, next_attempt_at=e.resumed_at)
    if isinstance(e, WebhookReplayed):
        return replace(
            hook, position=e.after_position, attempts=0, last_error=None,
            next_attempt_at=e.replayed_at,
        )  # fmt: skip
    if isinstance(e, WebhookDelivered):
        return replace(
            hook, position=e.position, delivered=hook.delivered + e.count, attempts=0,
            last_error=None, next_attempt_at=e.delivered_at,
        )  # fmt: skip
    if isinstance(e, WebhookDeliveryFailed):
        return replace(
            hook, position=e.position, delivered=hook.delivered + e.count,
            attempts=hook.attempts + 1, last_error=e.error, next_attempt_at=e.retry_at,
        )  # fmt: skip
    return hook


WEBHOOK: Aggregate[Webhook | None] = Aggregate(None, evolve)

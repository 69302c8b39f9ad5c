"""Signed outgoing webhooks: how a delivery is signed (and verified by a receiver), and how
long a failing endpoint waits before the next try.

`Chime-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`.
A receiver recomputes it, compares in constant time and refuses a timestamp older than its
tolerance, so a captured delivery cannot be replayed against it later.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets

from ulid import ULID

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

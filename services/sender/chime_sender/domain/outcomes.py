"""What the sender does with each answer of Telegram: pure classification and backoff.

Answers are the kit's Bot API `Answer` (one error model for every caller of the Bot API)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from chime_kit.telegram import Answer


class Verdict(Enum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    BLOCKED = "blocked"
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNSURE = "unsure"  # sent, no answer: resending could deliver it twice
    MIGRATED = "migrated"  # the group became a supergroup: send again to its new id


# 403 descriptions that mean this chat will not take messages from this bot any more.
_GONE = ("blocked", "deactivated", "kicked", "not a member", "chat was deleted")


# 5xx answers that come from a gateway timing out, not from the Bot API server failing.
_GATEWAY_TIMEOUTS = (504, 524)


def classify(result: Answer, *, resend_when_unsure: bool = False) -> Verdict:
    if result.ok:
        return Verdict.SENT
    if result.maybe_delivered and not resend_when_unsure:
        return Verdict.UNSURE
    if result.transport_error is not None:
        return Verdict.TRANSIENT
    code = result.error_code or 0
    if code == 429:
        return Verdict.RATE_LIMITED
    if code == 403:
        description = (result.description or "").lower()
        return Verdict.BLOCKED if any(p in description for p in _GONE) else Verdict.PERMANENT
    if code == 400 and result.migrate_to_chat_id is not None:
        return Verdict.MIGRATED
    if code in _GATEWAY_TIMEOUTS:
        # A proxy gave up waiting for the Bot API server, which may still have sent it.
        return Verdict.TRANSIENT if resend_when_unsure else Verdict.UNSURE
    if code >= 500 or code == 0:
        # The Bot API server answered with an error: the method failed, nothing was sent.
        return Verdict.TRANSIENT
    # 400 (chat not found, bad entities, too long), 401 (revoked token), 404 and the rest:
    # the same request would fail the same way.
    return Verdict.PERMANENT


def counts_for_breaker(verdict: Verdict) -> bool | None:
    """True: Telegram looks down; False: it answered sensibly; None: says nothing."""
    if verdict in (Verdict.TRANSIENT, Verdict.UNSURE):
        return True
    if verdict in (Verdict.SENT, Verdict.BLOCKED):
        return False
    return None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base: float = 0.5
    cap: float = 60.0

    def backoff(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(failures-1))]."""
        ceiling = min(self.cap, self.base * 2.0 ** max(0, failures - 1))
        return ceiling * rng()

    def gives_up(self, failures: int) -> bool:
        return failures >= self.max_attempts


def retry_after_seconds(result: Answer, default: float = 1.0) -> float:
    return max(result.retry_after or default, 0.0)

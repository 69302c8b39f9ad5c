"""How one call's answer settles its delivery: pure, so a batch of them is decided in memory
and written with a few set-based statements.

Each answer becomes a `Settlement`: the typed `Settled` verdict (what the metrics and the
delivery loop see), the delivery's next state, its chat's next pace, and the outcome event
when the delivery is over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from chime_contracts.events import MessageSent, SendFailed
from chime_kit.telegram import Answer
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.limits import ChatPace, Limits, after_send, paused
from chime_sender.domain.outcomes import RetryPolicy, Verdict, classify, retry_after_seconds

# A call that was not made (slot missed, bot paused, breaker trial taken): the delivery
# simply waits for a later claim.
POSTPONED = Answer(ok=False, transport_error="postponed")
# A call too late for its send slot (a busy process): not made; the delivery waits like a
# postponed one. Measured on a starved machine (bench/sender), re-claiming sooner (0 or
# 0.1 s) only multiplied the missed slots: a process that is late now is late again.
SLOT_MISSED = Answer(ok=False, transport_error="slot_missed")
POSTPONE_SECONDS = 0.5
SLOT_MISSED_SECONDS = POSTPONE_SECONDS
OUTCOME_UNKNOWN = "Telegram did not answer; it may have delivered, so it is not sent again"
UNKNOWN_AFTER_CRASH = "outcome unknown after crash"
CHAT_BLOCKED = "chat blocked the bot"


class Settled(Enum):
    """What became of one call, as the loop and the metrics see it."""

    SENT = "sent"
    PART_SENT = "part_sent"
    POSTPONED = "postponed"
    RATE_LIMITED = "rate_limited"
    RETRY = "retry"
    MIGRATED = "migrated"
    BLOCKED = "blocked"
    FAILED = "failed"
    DEAD = "dead"
    UNKNOWN = "unknown"
    STALE = "stale"  # its owner was judged dead and the delivery re-queued or unknown

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({Settled.SENT, Settled.BLOCKED, Settled.FAILED, Settled.DEAD, Settled.UNKNOWN})


@dataclass(frozen=True)
class Policy:
    """The configuration settling follows."""

    limits: Limits
    retry: RetryPolicy
    # At-most-once (the default) or at-least-once when a call got no answer.
    resend_when_unsure: bool = False
    # Bots whose limits differ from `limits` (a bot Telegram allows more, or a cautious one).
    per_bot: Mapping[int, Limits] = field(default_factory=dict)

    def limits_of(self, bot_id: int) -> Limits:
        return self.per_bot.get(bot_id, self.limits)


@dataclass(frozen=True)
class Live:
    """A claimed delivery as settling finds it, still held by the call's claim."""

    parts_total: int
    parts_sent: int
    first_message_id: int | None
    recent: tuple[datetime, ...]  # the chat's recent sends (groups)


@dataclass(frozen=True)
class Settlement:
    claim: Claim
    answer: Answer
    settled: Settled
    # The delivery's next state: 'pending' (again, at `next_attempt_at`) or final.
    state: str
    next_attempt_at: datetime | None = None
    failed: bool = False  # counts as one more transient failure
    part_sent: bool = False
    error: str | None = None
    pace: ChatPace | None = None
    event: MessageSent | SendFailed | None = None
    migrate_to: int | None = None  # the chat's new id (a group that became a supergroup)
    # What `delivery_attempts.outcome` records for the call: the answer's verdict.
    outcome: str = "postponed"
    called: bool = True  # False: failed before any call (no attempt to record)


def is_postponed(answer: Answer) -> bool:
    """A call that was not made."""
    return answer.transport_error in (POSTPONED.transport_error, SLOT_MISSED.transport_error)


def settle(
    policy: Policy,
    claim: Claim,
    answer: Answer,
    live: Live | None,
    now: datetime,
    *,
    rng: Callable[[], float] | None = None,
) -> Settlement:
    """The settlement of one call; `live` is None when the claim is no longer held."""
    settlement = _settle(policy, claim, answer, live, now, rng)
    if settlement.settled is Settled.STALE:
        return settlement
    if settlement.settled is Settled.POSTPONED:
        return replace(settlement, outcome=answer.transport_error or "postponed")
    verdict = classify(answer, resend_when_unsure=policy.resend_when_unsure)
    return replace(settlement, outcome=verdict.value)


def _settle(
    policy: Policy,
    claim: Claim,
    answer: Answer,
    live: Live | None,
    now: datetime,
    rng: Callable[[], float] | None,
) -> Settlement:
    if live is None:
        return Settlement(claim, answer, Settled.STALE, state="stale")
    if is_postponed(answer):
        wait = SLOT_MISSED_SECONDS if answer == SLOT_MISSED else POSTPONE_SECONDS
        later = now + timedelta(seconds=wait)
        return Settlement(
            claim, answer, Settled.POSTPONED, "pending", later,
            pace=ChatPace(later, live.recent),
        )  # fmt: skip
    verdict = classify(answer, resend_when_unsure=policy.resend_when_unsure)
    # The call reached (or may have reached) Telegram: the chat's limit counts it.
    pace = after_send(
        policy.limits_of(claim.delivery.bot_id), claim.delivery.chat_id, live.recent, now
    )
    error = answer.description or answer.transport_error
    if verdict is Verdict.SENT:
        if live.parts_sent + 1 < live.parts_total:
            return Settlement(
                claim, answer, Settled.PART_SENT, "pending", now, part_sent=True, pace=pace
            )
        first = live.first_message_id or answer.message_id or 0
        return Settlement(
            claim, answer, Settled.SENT, "sent", part_sent=True, pace=pace,
            event=_sent(claim, first, now),
        )  # fmt: skip
    if verdict is Verdict.RATE_LIMITED:
        until = now + timedelta(seconds=retry_after_seconds(answer))
        return Settlement(
            claim, answer, Settled.RATE_LIMITED, "pending", until, error=error,
            pace=paused(pace, until),
        )  # fmt: skip
    if verdict is Verdict.MIGRATED:
        # Nothing was sent: the same message goes to the chat's new id at once.
        return Settlement(
            claim, answer, Settled.MIGRATED, "pending", now, error=error,
            pace=pace, migrate_to=answer.migrate_to_chat_id,
        )  # fmt: skip
    if verdict is Verdict.BLOCKED:
        return _final(claim, answer, Settled.BLOCKED, "failed", pace, now, CHAT_BLOCKED, True)
    if verdict is Verdict.UNSURE:
        return _final(claim, answer, Settled.UNKNOWN, "unknown", pace, now, OUTCOME_UNKNOWN, True)
    if verdict is Verdict.PERMANENT:
        reason = answer.description or f"Telegram refused it ({answer.error_code})"
        return _final(claim, answer, Settled.FAILED, "failed", pace, now, reason, True)
    failures = claim.failures + 1
    if policy.retry.gives_up(failures):
        reason = f"gave up after {failures} attempts"
        return _final(claim, answer, Settled.DEAD, "dead", pace, now, reason, False)
    backoff = policy.retry.backoff(failures) if rng is None else policy.retry.backoff(failures, rng)
    retry_at = now + timedelta(seconds=backoff)
    # The chat waits too, so a later message never overtakes this one.
    return Settlement(
        claim, answer, Settled.RETRY, "pending", retry_at, failed=True, error=error,
        pace=paused(pace, retry_at),
    )  # fmt: skip


def _final(
    claim: Claim,
    answer: Answer,
    settled: Settled,
    state: str,
    pace: ChatPace,
    now: datetime,
    reason: str,
    permanent: bool,
) -> Settlement:
    event = failed_event(
        claim, now, reason=reason, permanent=permanent, answer=answer, unknown=state == "unknown"
    )
    return Settlement(claim, answer, settled, state, error=reason, pace=pace, event=event)


def _sent(claim: Claim, first_message_id: int, now: datetime) -> MessageSent:
    d = claim.delivery
    return MessageSent(
        delivery_id=d.delivery_id,
        bot_id=d.bot_id,
        chat_id=d.chat_id,
        telegram_message_id=first_message_id,
        attempts=claim.attempt,
        sent_at=now,
        source=d.source,
    )


def failed_event(
    claim: Claim,
    now: datetime,
    *,
    reason: str,
    permanent: bool,
    answer: Answer | None = None,
    unknown: bool = False,
) -> SendFailed:
    d = claim.delivery
    return SendFailed(
        delivery_id=d.delivery_id,
        bot_id=d.bot_id,
        chat_id=d.chat_id,
        reason=reason,
        error_code=answer.error_code if answer else None,
        description=(answer.description or answer.transport_error) if answer else None,
        permanent=permanent,
        attempts=claim.attempt,
        failed_at=now,
        outcome_unknown=unknown,
        source=d.source,
    )

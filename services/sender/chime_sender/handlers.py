"""What the sender does on each event, and with each answer of Telegram. No framework imports.

Consuming only stores a delivery; the delivery loop claims ready ones (`claim_ready`), calls
Telegram outside any transaction (`call_telegram`) and settles each outcome in a unit of work
of its own (`settle`), which records the events.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from pydantic import SecretStr

from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    ChatBlocked,
    MessageSent,
    NotificationDue,
    SendFailed,
    SendRequested,
)
from chime_kit.telemetry import context_from_traceparent, current_traceparent, mark_service
from chime_kit.unit_of_work import UnitOfWork
from chime_sender.adapters.postgres import DeliveryRepository
from chime_sender.domain.circuit import Breakers, BreakerState
from chime_sender.domain.deliveries import Claim, Delivery, choose
from chime_sender.domain.formatting import message_parts
from chime_sender.domain.limits import ChatPace, Limits, TokenLimiter, after_send, paused
from chime_sender.domain.outcomes import (
    CallResult,
    RetryPolicy,
    Verdict,
    classify,
    counts_for_breaker,
    retry_after_seconds,
)
from chime_sender.metrics import RATE_LIMITED, TELEGRAM_SECONDS

SERVICE = "sender"
UNKNOWN_AFTER_CRASH = "outcome unknown after crash"
OUTCOME_UNKNOWN = "Telegram did not answer; it may have delivered, so it is not sent again"
POSTPONE_SECONDS = 0.5
tracer = trace.get_tracer("chime.sender")


class Telegram(Protocol):
    async def send_message(
        self,
        token: SecretStr,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> CallResult: ...


@dataclass
class Sending:
    """What sending needs beyond the database: the Bot API, tokens, limits and breakers."""

    telegram: Telegram
    tokens: Mapping[int, SecretStr]
    limits: Limits
    limiter: TokenLimiter
    breakers: Breakers
    retry: RetryPolicy
    # At-most-once (the default) or at-least-once when a call got no answer.
    resend_when_unsure: bool = False
    # Claimed calls not yet through the token window, so a bot's budget is not claimed twice.
    waiting: Counter[int] = field(default_factory=Counter)


async def _store(uow: UnitOfWork, delivery: Delivery, origin: str, requested_at: datetime) -> None:
    parts = len(message_parts(delivery.text))
    await DeliveryRepository(uow.conn).add(delivery, origin, parts, requested_at)


async def store_send_request(uow: UnitOfWork, envelope: Envelope[SendRequested]) -> None:
    request = envelope.data
    delivery = Delivery(
        delivery_id=request.delivery_id,
        bot_id=request.bot_id,
        chat_id=request.chat_id,
        text=request.text,
        parse_mode=request.parse_mode,
        reply_to_message_id=request.reply_to_message_id,
        correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0],
    )
    await _store(uow, delivery, request.origin, envelope.occurred_at)


async def store_due_notification(uow: UnitOfWork, envelope: Envelope[NotificationDue]) -> None:
    due = envelope.data
    delivery = Delivery(
        delivery_id=due.delivery_id,
        bot_id=due.bot_id,
        chat_id=due.chat_id,
        text=due.text,
        parse_mode=None,
        reply_to_message_id=None,
        correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0],
    )
    await _store(uow, delivery, f"scheduler.{due.source}", envelope.occurred_at)


def budgets(sending: Sending) -> dict[int, int]:
    """How many calls each bot may start now: its token window, one trial when half-open."""
    result: dict[int, int] = {}
    for bot_id in sending.tokens:
        breaker = sending.breakers.of(bot_id)
        if not breaker.allows():
            result[bot_id] = 0
        elif breaker.state is BreakerState.HALF_OPEN:
            result[bot_id] = min(1, sending.limiter.available(bot_id) - sending.waiting[bot_id])
        else:
            result[bot_id] = sending.limiter.available(bot_id) - sending.waiting[bot_id]
    return result


async def claim_ready(
    uow: UnitOfWork, sending: Sending, now: datetime, *, limit: int, lease: float
) -> list[Claim]:
    """Take what can be sent now; fail at once what never can (no token, chat blocked)."""
    repo = DeliveryRepository(uow.conn)
    budget = budgets(sending)
    skip = [bot for bot, free in budget.items() if free <= 0]
    chosen = choose(await repo.ready(now, limit, skip), budget)
    hopeless = [c for c in chosen if c.chat_blocked or c.delivery.bot_id not in sending.tokens]
    callable_ = [c for c in chosen if not c.chat_blocked and c.delivery.bot_id in sending.tokens]
    lease_until = now + timedelta(seconds=lease)
    held = await repo.reserve_chats(
        [(c.delivery.bot_id, c.delivery.chat_id) for c in callable_], now, lease_until
    )
    for claim in hopeless:
        reason = "chat blocked the bot" if claim.chat_blocked else "no token for bot"
        await _fail(uow, repo, claim, now, reason=reason, permanent=True, state="failed")
    taken = [c for c in callable_ if (c.delivery.bot_id, c.delivery.chat_id) in held]
    sending.waiting.update(c.delivery.bot_id for c in taken)
    return await repo.mark_sending(taken, now, lease_until)


async def call_telegram(sending: Sending, claim: Claim) -> tuple[CallResult, Span]:
    """One Bot API call for the claim's next part, in a span of the delivery's trace."""
    d = claim.delivery
    parts = message_parts(d.text)
    part = parts[min(claim.parts_sent, len(parts) - 1)]
    span = tracer.start_span(
        "telegram sendMessage",
        context=context_from_traceparent(d.traceparent),
        kind=SpanKind.CLIENT,
        attributes={
            "chime.bot_id": d.bot_id,
            "chime.chat_id": d.chat_id,
            "chime.delivery_id": d.delivery_id,
            "chime.attempt": claim.attempt,
            "chime.part": claim.parts_sent + 1,
            "chime.parts": len(parts),
        },
    )
    mark_service(span, SERVICE)
    with trace.use_span(span, end_on_exit=True):
        breaker = sending.breakers.of(d.bot_id)
        try:
            allowed = breaker.begin()
            # The window frees by the clock alone, so there is no event to wait for.
            while allowed and (wait := sending.limiter.take(d.bot_id)) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
        finally:
            sending.waiting[d.bot_id] -= 1
        if not allowed:
            # Another half-open trial is in flight: this one waits, it is not a failure.
            result = CallResult(ok=False, transport_error="postponed")
        else:
            started = time.perf_counter()
            result = await sending.telegram.send_message(
                sending.tokens[d.bot_id],
                d.chat_id,
                part,
                parse_mode=d.parse_mode,
                reply_to_message_id=d.reply_to_message_id if claim.parts_sent == 0 else None,
            )
            TELEGRAM_SECONDS.labels(SERVICE, "sendMessage", result.summary).observe(
                time.perf_counter() - started
            )
            if result.error_code == 429:
                RATE_LIMITED.labels(SERVICE).inc()
        span.set_attribute("chime.outcome", result.summary)
        if result.error_code is not None:
            span.set_attribute("http.response.status_code", result.error_code)
        if not result.ok:
            span.set_status(trace.StatusCode.ERROR, result.summary)
    return result, span


async def settle(
    uow: UnitOfWork, sending: Sending, claim: Claim, result: CallResult, now: datetime
) -> str:
    """Apply one call's outcome; returns what happened (a metrics label)."""
    d = claim.delivery
    repo = DeliveryRepository(uow.conn)
    postponed = result.transport_error == "postponed"
    verdict = classify(result, resend_when_unsure=sending.resend_when_unsure)
    if not postponed:
        _update_health(sending, d.bot_id, verdict)
    await repo.finish_attempt(
        d.delivery_id,
        claim.attempt,
        now,
        "postponed" if postponed else verdict.value,
        result.error_code,
        result.description or result.transport_error,
        result.message_id,
    )
    parts_total = await repo.still_sending(d.delivery_id, claim.attempt)
    if parts_total is None:
        return "stale"  # the lease ran out and the delivery was settled as unknown
    held = await repo.pace_of(d.bot_id, d.chat_id)
    recent = held.recent if held else ()
    if postponed:
        later = now + timedelta(seconds=POSTPONE_SECONDS)
        await repo.retry_at(d.delivery_id, later, failed=False, error=None)
        await repo.set_pace(d.bot_id, d.chat_id, ChatPace(later, recent))
        return "postponed"
    # The call reached (or may have reached) Telegram: the chat's limit counts it.
    pace = after_send(sending.limits, d.chat_id, recent, now)
    error = result.description or result.transport_error
    if verdict is Verdict.SENT:
        await repo.set_pace(d.bot_id, d.chat_id, pace)
        parts_sent, first_id = await repo.part_sent(d.delivery_id, result.message_id)
        if parts_sent < parts_total:
            await repo.retry_at(d.delivery_id, now, failed=False, error=None)
            return "part_sent"
        await repo.finish(d.delivery_id, "sent", now)
        await uow.record(
            _stream(d),
            0,
            MessageSent(
                delivery_id=d.delivery_id,
                bot_id=d.bot_id,
                chat_id=d.chat_id,
                telegram_message_id=first_id or 0,
                attempts=claim.attempt,
                sent_at=now,
            ),
            correlation_id=d.correlation_id,
        )
        return "sent"
    if verdict is Verdict.RATE_LIMITED:
        wait = retry_after_seconds(result)
        sending.limiter.pause(d.bot_id, wait)
        until = now + timedelta(seconds=wait)
        await repo.retry_at(d.delivery_id, until, failed=False, error=error)
        await repo.set_pace(d.bot_id, d.chat_id, paused(pace, until))
        return "rate_limited"
    await repo.set_pace(d.bot_id, d.chat_id, pace)
    if verdict is Verdict.BLOCKED:
        if await repo.block_chat(d.bot_id, d.chat_id, now, error or "forbidden"):
            await uow.emit(
                ChatBlocked(
                    bot_id=d.bot_id,
                    chat_id=d.chat_id,
                    detected_by="send_forbidden",
                    blocked_at=now,
                ),
                correlation_id=d.correlation_id,
            )
        await _fail(
            uow,
            repo,
            claim,
            now,
            reason="chat blocked the bot",
            permanent=True,
            state="failed",
            result=result,
        )
        return "blocked"
    if verdict is Verdict.UNSURE:
        await _fail(
            uow,
            repo,
            claim,
            now,
            reason=OUTCOME_UNKNOWN,
            permanent=True,
            state="unknown",
            result=result,
        )
        return "unknown"
    if verdict is Verdict.PERMANENT:
        reason = result.description or f"Telegram refused it ({result.error_code})"
        await _fail(
            uow, repo, claim, now, reason=reason, permanent=True, state="failed", result=result
        )
        return "failed"
    failures = claim.failures + 1
    if sending.retry.gives_up(failures):
        await _fail(
            uow,
            repo,
            claim,
            now,
            reason=f"gave up after {failures} attempts",
            permanent=False,
            state="dead",
            result=result,
        )
        return "dead"
    retry_at = now + timedelta(seconds=sending.retry.backoff(failures))
    await repo.retry_at(d.delivery_id, retry_at, failed=True, error=error)
    # The chat waits too, so a later message never overtakes this one.
    await repo.set_pace(d.bot_id, d.chat_id, paused(pace, retry_at))
    return "retry"


async def expire_leases(uow: UnitOfWork, now: datetime) -> int:
    """A call that outlived its lease died with its process: Telegram may have the message,
    so it is never sent again; it fails as unknown."""
    lost = await DeliveryRepository(uow.conn).expire_leases(now)
    for claim in lost:
        with tracer.start_as_current_span(
            "delivery outcome unknown", context=context_from_traceparent(claim.delivery.traceparent)
        ) as span:
            mark_service(span, SERVICE)
            span.set_attribute("chime.delivery_id", claim.delivery.delivery_id)
            await uow.record(
                _stream(claim.delivery),
                0,
                _failed(claim, now, reason=UNKNOWN_AFTER_CRASH, permanent=True),
                correlation_id=claim.delivery.correlation_id,
            )
    return len(lost)


def _update_health(sending: Sending, bot_id: int, verdict: Verdict) -> None:
    breaker = sending.breakers.of(bot_id)
    signal = counts_for_breaker(verdict)
    if signal is True:
        breaker.failure()
    elif signal is False:
        breaker.success()
    else:
        breaker.neutral()


def _stream(delivery: Delivery) -> str:
    return f"delivery-{delivery.delivery_id}"


def _failed(
    claim: Claim,
    now: datetime,
    *,
    reason: str,
    permanent: bool,
    result: CallResult | None = None,
) -> SendFailed:
    d = claim.delivery
    return SendFailed(
        delivery_id=d.delivery_id,
        bot_id=d.bot_id,
        chat_id=d.chat_id,
        reason=reason,
        error_code=result.error_code if result else None,
        description=(result.description or result.transport_error) if result else None,
        permanent=permanent,
        attempts=claim.attempt,
        failed_at=now,
    )


async def _fail(
    uow: UnitOfWork,
    repo: DeliveryRepository,
    claim: Claim,
    now: datetime,
    *,
    reason: str,
    permanent: bool,
    state: str,
    result: CallResult | None = None,
) -> None:
    await repo.finish(claim.delivery.delivery_id, state, now, reason)
    await uow.record(
        _stream(claim.delivery),
        0,
        _failed(claim, now, reason=reason, permanent=permanent, result=result),
        correlation_id=claim.delivery.correlation_id,
    )

"""One Bot API call for a claimed delivery: wait for its send slot, then call.

The bot's send slots (shared by every replica through `bot_pacing`) keep each token under
Telegram's rate. The bot's circuit breaker is shared too (`handlers.breakers`): while it is
not closed, only the probe this replica claimed for it is called.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from chime_kit.telegram import Answer
from chime_kit.telemetry import context_from_traceparent, mark_service
from chime_sender.domain.circuit import Signal
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.limits import missed_slot, slot_wait
from chime_sender.domain.messages import parts_of, payload_of
from chime_sender.domain.settlement import POSTPONED, SLOT_MISSED, is_postponed
from chime_sender.handlers import Sending
from chime_sender.metrics import LIMITER_WAIT, RATE_LIMITED, SLOTS_MISSED, TELEGRAM_SECONDS
from chime_sender.settings import SERVICE

tracer = trace.get_tracer("chime.sender")


@dataclass(frozen=True)
class Called:
    """A claim's call and its answer; `span` is the call's, which its outcome event joins."""

    claim: Claim
    answer: Answer
    span: Span = trace.INVALID_SPAN


async def wait_for_slot(
    sending: Sending,
    claim: Claim,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Answer | None:
    """Sleep until the claim's send slot starts; None when the call may be made, else why
    not: later than the slot's grant allows (`SLOT_MISSED`), or `POSTPONED` because a 429
    seen here since the slot was granted paused the bot, or this process's heartbeat is too
    old for it to call (another replica may judge it dead)."""
    if claim.send_at is not None and claim.slot is not None:
        while (delay := slot_wait(claim.send_at, clock())) > 0:
            await sleep(delay)  # may end early (see slot_wait): look at the clock again
        limits = sending.policy.limits_of(claim.delivery.bot_id)
        if missed_slot(limits, claim.send_at, clock(), claim.late):
            SLOTS_MISSED.labels(SERVICE).inc()
            return SLOT_MISSED
    if not sending.local.may_call(claim):
        return POSTPONED
    if claim.slot is None:
        return None
    paused_to = sending.local.paused_to.get(claim.delivery.bot_id)
    return None if paused_to is None or claim.slot >= paused_to else POSTPONED


async def call_telegram(sending: Sending, claim: Claim, refused: Answer | None = None) -> Called:
    """One Bot API call for the claim's next part, in a span of the delivery's trace; none
    when `wait_for_slot` `refused` it."""
    d = claim.delivery
    parts = parts_of(d.text, d.method, d.parse_mode)
    part = min(claim.parts_sent, len(parts) - 1)
    method, payload = payload_of(d, part, parts)
    span = tracer.start_span(
        f"telegram {method}",
        context=context_from_traceparent(d.traceparent),
        # The attempt, not the HTTP call: the Bot API client opens that client span under
        # it (and an attempt the limiter postpones makes no call at all).
        kind=SpanKind.INTERNAL,
        attributes={
            "chime.bot_id": d.bot_id,
            "chime.chat_id": d.chat_id,
            "chime.delivery_id": d.delivery_id,
            "chime.attempt": claim.attempt,
            "chime.part": part + 1,
            "chime.parts": len(parts),
        },
    )
    mark_service(span, SERVICE)
    with trace.use_span(span, end_on_exit=True):
        # No usable slot, or the breaker opened since the claim: the delivery waits; it is
        # not a failure.
        breakers = sending.local.breakers
        if refused is not None:
            answer = refused
        elif not breakers.allows(d.bot_id, d.delivery_id):
            answer = POSTPONED
        else:
            if (paced := claim.paced_seconds) is not None:
                LIMITER_WAIT.labels(SERVICE).observe(paced)
            started = time.perf_counter()
            answer = await sending.api.call(sending.tokens[d.bot_id], method, payload)
            TELEGRAM_SECONDS.labels(SERVICE, method, answer.summary).observe(
                time.perf_counter() - started
            )
            if answer.error_code == 429:
                RATE_LIMITED.labels(SERVICE).inc()
        if is_postponed(answer) and breakers.is_probe(d.bot_id, d.delivery_id):
            breakers.note(d.bot_id, d.delivery_id, Signal.NEUTRAL)  # a probe not made: free it
        span.set_attribute("chime.outcome", answer.summary)
        if answer.error_code is not None:
            span.set_attribute("http.response.status_code", answer.error_code)
        if not answer.ok:
            span.set_status(trace.StatusCode.ERROR, answer.summary)
    return Called(claim, answer, span)

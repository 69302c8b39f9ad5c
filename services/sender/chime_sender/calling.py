"""One Bot API call for a claimed delivery: wait for its send slot, then call. No framework
imports.

The bot's send slots (shared by every replica through `bot_pacing`) keep each token under
Telegram's rate. The circuit breaker is per process: each replica learns by itself that
Telegram is down or back, and its half-open state lets one trial call through at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from pydantic import SecretStr

from chime_kit.in_flight import InFlight
from chime_kit.telemetry import context_from_traceparent, mark_service
from chime_sender.domain.circuit import Breakers
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.formatting import message_parts
from chime_sender.domain.limits import Limits, missed_slot, slot_wait
from chime_sender.domain.outcomes import CallResult, RetryPolicy
from chime_sender.metrics import RATE_LIMITED, SLOTS_MISSED, TELEGRAM_SECONDS

SERVICE = "sender"
# A call that was not made (slot missed, bot paused, breaker trial taken): the delivery
# simply waits for a later claim.
POSTPONED = CallResult(ok=False, transport_error="postponed")
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
    breakers: Breakers
    retry: RetryPolicy
    # At-most-once (the default) or at-least-once when a call got no answer.
    resend_when_unsure: bool = False
    # Per bot, the next_slot_at a 429 seen here pushed it to (database clock). Slots granted
    # before it are not used, so calls already waiting for one do not hit the pause.
    paused_to: dict[int, datetime] = field(default_factory=dict)
    # Messages this process's consumers are storing right now: a delivery requested after
    # the oldest of them waits, so one stored a moment late is still sent first.
    in_flight: tuple[InFlight, ...] = ()
    # Whether a claim may still be called now: its owner's heartbeat is fresh (see
    # entrypoints.heartbeat). A call it refuses is postponed, never made.
    may_call: Callable[[Claim], bool] = lambda _claim: True


def is_postponed(result: CallResult) -> bool:
    return result.transport_error == POSTPONED.transport_error


async def wait_for_slot(
    sending: Sending,
    claim: Claim,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Sleep until the claim's send slot starts; False when the slot cannot be used: too
    late for it, a 429 seen here since it was granted paused the bot, or this process's
    heartbeat is too old for it to call (another replica may judge it dead)."""
    if claim.send_at is not None and claim.slot is not None:
        while (delay := slot_wait(claim.send_at, clock())) > 0:
            await sleep(delay)  # may end early (see slot_wait): look at the clock again
        if missed_slot(sending.limits, claim.send_at, clock()):
            SLOTS_MISSED.labels(SERVICE).inc()
            return False
    if not sending.may_call(claim):
        return False
    if claim.slot is None:
        return True
    paused_to = sending.paused_to.get(claim.delivery.bot_id)
    return paused_to is None or claim.slot >= paused_to


async def call_telegram(
    sending: Sending, claim: Claim, usable: bool = True
) -> tuple[CallResult, Span]:
    """One Bot API call for the claim's next part (`wait_for_slot` said whether its slot is
    `usable`), in a span of the delivery's trace."""
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
        # No usable slot, or another half-open trial is in flight: the delivery waits; it
        # is not a failure.
        if not usable or not sending.breakers.of(d.bot_id).begin():
            result = POSTPONED
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

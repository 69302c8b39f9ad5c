"""What the sender does on each event, and with each answer of Telegram. No framework imports.

Consuming only stores a delivery; the delivery loop claims ready ones (`claiming`), calls
Telegram outside any transaction (`calling`) and settles each outcome in a unit of work of
its own (`settle`), which records the events.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from opentelemetry import trace

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
from chime_sender.adapters.instances import DeadInstance, Instances
from chime_sender.adapters.pacing import BotPacing
from chime_sender.adapters.postgres import DeliveryRepository
from chime_sender.calling import SERVICE, Sending, is_postponed
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.formatting import message_parts
from chime_sender.domain.limits import (
    ChatPace,
    after_send,
    paused,
    paused_slot,
)
from chime_sender.domain.outcomes import (
    CallResult,
    Verdict,
    classify,
    counts_for_breaker,
    retry_after_seconds,
)

UNKNOWN_AFTER_CRASH = "outcome unknown after crash"
OUTCOME_UNKNOWN = "Telegram did not answer; it may have delivered, so it is not sent again"
POSTPONE_SECONDS = 0.5
tracer = trace.get_tracer("chime.sender")


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


async def settle(
    uow: UnitOfWork, sending: Sending, claim: Claim, result: CallResult, now: datetime
) -> str:
    """Apply one call's outcome; returns what happened (a metrics label)."""
    d = claim.delivery
    repo = DeliveryRepository(uow.conn)
    postponed = is_postponed(result)
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
    if verdict is Verdict.RATE_LIMITED:
        # Before the chat's row: claims lock a bot's row before its chats' rows.
        await _pause_bot(uow, sending, d.bot_id, retry_after_seconds(result))
    parts_total = await repo.still_sending(d.delivery_id, claim.attempt, claim.owner)
    if parts_total is None:
        return "stale"  # its owner was judged dead and the delivery re-queued or unknown
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
        until = now + timedelta(seconds=retry_after_seconds(result))
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
        await fail(
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
        await fail(
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
        await fail(
            uow, repo, claim, now, reason=reason, permanent=True, state="failed", result=result
        )
        return "failed"
    failures = claim.failures + 1
    if sending.retry.gives_up(failures):
        await fail(
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
    """A claim of no live instance whose lease ran out died with its process: Telegram may
    have the message, so it is never sent again; it fails as unknown."""
    lost = await DeliveryRepository(uow.conn).expire(now)
    await _record_unknown(uow, lost, now)
    return len(lost)


async def bury(
    uow: UnitOfWork, sending: Sending, dead: DeadInstance, now: datetime
) -> tuple[int, int]:
    """Settle the claims of a sender instance that died; returns (re-queued, unknown).

    It never called a claim whose slot starts after its last promise (`calls_until`), so
    those are pending again at once. The others may have been in flight: unknown, and their
    chat waits as if they had been sent now.
    """
    repo = DeliveryRepository(uow.conn)
    requeued = await repo.release(dead.instance_id, now, slots_after=dead.calls_until)
    lost = await repo.expire(now, owner=dead.instance_id)
    for claim in lost:
        d = claim.delivery
        held = await repo.pace_of(d.bot_id, d.chat_id)
        recent = held.recent if held else ()
        await repo.set_pace(d.bot_id, d.chat_id, after_send(sending.limits, d.chat_id, recent, now))
    await _record_unknown(uow, lost, now)
    await Instances(uow.conn).remove(dead.instance_id)
    return requeued, len(lost)


async def release_unsent(uow: UnitOfWork, owner: str, ids: list[str], now: datetime) -> int:
    """A sender stopping gives back the claims it has not called: pending again at once."""
    return await DeliveryRepository(uow.conn).release(owner, now, ids=ids)


async def release_unheld(uow: UnitOfWork, owner: str, held: list[str], now: datetime) -> int:
    """Claims committed by a transaction whose answer was lost (the link broke at COMMIT):
    recorded as this sender's, yet no call holds them. Never called: pending again."""
    return await DeliveryRepository(uow.conn).release(owner, now, all_but=held)


async def _record_unknown(uow: UnitOfWork, lost: list[Claim], now: datetime) -> None:
    for claim in lost:
        with tracer.start_as_current_span(
            "delivery outcome unknown", context=context_from_traceparent(claim.delivery.traceparent)
        ) as span:
            mark_service(span, SERVICE)
            span.set_attribute("chime.delivery_id", claim.delivery.delivery_id)
            await uow.record(
                _stream(claim.delivery),
                0,
                _failed(claim, now, reason=UNKNOWN_AFTER_CRASH, permanent=True, unknown=True),
                correlation_id=claim.delivery.correlation_id,
            )


async def _pause_bot(uow: UnitOfWork, sending: Sending, bot_id: int, seconds: float) -> None:
    """A 429 pauses the bot on every replica: its next slot moves past `retry_after`."""
    pacing = BotPacing(uow.conn)
    next_slots, db_now = await pacing.lock([bot_id])
    paused_to = paused_slot(next_slots[bot_id], db_now, seconds)
    await pacing.store({bot_id: paused_to})
    sending.paused_to[bot_id] = max(paused_to, sending.paused_to.get(bot_id, paused_to))


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
    unknown: bool = False,
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
        outcome_unknown=unknown,
    )


async def fail(
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
    """End the delivery as `state` (failed, dead, unknown) and record why."""
    await repo.finish(claim.delivery.delivery_id, state, now, reason)
    await uow.record(
        _stream(claim.delivery),
        0,
        _failed(
            claim,
            now,
            reason=reason,
            permanent=permanent,
            result=result,
            unknown=state == "unknown",
        ),
        correlation_id=claim.delivery.correlation_id,
    )

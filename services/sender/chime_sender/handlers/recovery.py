"""Settling what senders that died or stopped left behind.

A claim whose call may have left is never sent again: it ends unknown. A claim that was
certainly never called is pending again at once, for any replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opentelemetry import trace

from chime_kit.streams import Work
from chime_kit.telegram import Answer
from chime_kit.telemetry import context_from_traceparent, mark_service
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.limits import after_send
from chime_sender.domain.settlement import (
    UNKNOWN_AFTER_CRASH,
    Live,
    Settled,
    Settlement,
    failed_event,
)
from chime_sender.handlers import Sending
from chime_sender.handlers.settle import record_outcomes
from chime_sender.ports import DeadInstance, Stores
from chime_sender.settings import SERVICE

tracer = trace.get_tracer("chime.sender")


async def expire_leases(work: Work, stores: Stores, sending: Sending, now: datetime) -> int:
    """A claim of no live instance whose lease ran out died with its process: Telegram may
    have the message, so it is never sent again; it fails as unknown."""
    lost = await stores.deliveries.expire(now)
    await _settle_unknown(work, stores, sending, lost, now)
    return len(lost)


async def bury(
    work: Work, stores: Stores, sending: Sending, dead: DeadInstance, now: datetime
) -> tuple[int, int]:
    """Settle the claims of a sender instance that died; returns (re-queued, unknown).

    It never called a claim whose slot starts after its last promise (`calls_until`), so
    those are pending again at once. The others may have been in flight: unknown, and their
    chat waits as if they had been sent now.
    """
    requeued = await stores.deliveries.release(dead.instance_id, now, slots_after=dead.calls_until)
    lost = await stores.deliveries.expire(now, owner=dead.instance_id)
    await _settle_unknown(work, stores, sending, lost, now)
    await stores.instances.remove(dead.instance_id)
    return requeued, len(lost)


async def release_unheld(stores: Stores, owner: str, held: list[str], now: datetime) -> int:
    """Claims recorded as this sender's that no call of it holds: those a stopping sender
    never called, and those a transaction committed whose answer was lost (the link broke,
    or the loop was cancelled, at COMMIT). Never called: pending again at once."""
    return await stores.deliveries.release(owner, now, all_but=held)


async def _settle_unknown(
    work: Work,
    stores: Stores,
    sending: Sending,
    lost: Sequence[tuple[Claim, Live]],
    now: datetime,
) -> None:
    settlements = [
        Settlement(
            claim,
            Answer(ok=False),
            Settled.UNKNOWN,
            "unknown",
            error=UNKNOWN_AFTER_CRASH,
            pace=after_send(
                sending.policy.limits_of(claim.delivery.bot_id),
                claim.delivery.chat_id,
                live.recent,
                now,
            ),
            event=failed_event(
                claim, now, reason=UNKNOWN_AFTER_CRASH, permanent=True, unknown=True
            ),
            outcome="unknown",
        )
        for claim, live in lost
    ]
    await stores.deliveries.settle(settlements, now)
    spans = {}
    for s in settlements:
        d = s.claim.delivery
        with tracer.start_as_current_span(
            "delivery outcome unknown", context=context_from_traceparent(d.traceparent)
        ) as span:
            mark_service(span, SERVICE)
            span.set_attribute("chime.delivery_id", d.delivery_id)
        spans[d.delivery_id] = span
    await record_outcomes(work, stores, settlements, spans)

"""Settling answers: a batch of calls' answers written in one unit of work, each as a typed
`Settlement` (decided in `domain.settlement`), with the outcome events it records.

A call is settled only while its claim still holds the delivery (same attempt, same owner):
one whose sender was judged dead meanwhile is `STALE`, and the sweeper's verdict stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opentelemetry import trace

from chime_contracts.events import ChatBlocked, ChatMigrated
from chime_kit.event_store import Append
from chime_kit.streams import Work, decide
from chime_sender.domain import streams
from chime_sender.domain.circuit import signal_of
from chime_sender.domain.limits import paused_pace
from chime_sender.domain.outcomes import Verdict, classify, counts_for_breaker, retry_after_seconds
from chime_sender.domain.settlement import Settled, Settlement, is_postponed, settle
from chime_sender.handlers import Sending, chats
from chime_sender.handlers.call import Called
from chime_sender.ports import Stores


async def settle_calls(
    work: Work, stores: Stores, sending: Sending, calls: Sequence[Called], now: datetime
) -> list[Settlement]:
    """Apply the calls' answers; returns one settlement per call, in order."""
    for called in calls:
        if not is_postponed(called.answer):
            _update_health(sending, called)
    # A 429 pauses its bot on every replica, before any chat's row is touched: claims lock a
    # bot's row before its chats' rows.
    pauses: dict[int, float] = {}
    for called in calls:
        if called.answer.error_code == 429:
            bot = called.claim.delivery.bot_id
            pauses[bot] = max(pauses.get(bot, 0.0), retry_after_seconds(called.answer))
    for bot, seconds in sorted(pauses.items()):
        await _pause_bot(stores, sending, bot, seconds)
    live = await stores.deliveries.hold([c.claim for c in calls])
    settlements = [
        settle(sending.policy, c.claim, c.answer, live.get(c.claim.delivery.delivery_id), now)
        for c in calls
    ]
    current = [s for s in settlements if s.settled is not Settled.STALE]
    await stores.deliveries.settle(current, now)
    spans = {c.claim.delivery.delivery_id: c.span for c in calls}
    await record_outcomes(work, stores, current, spans)
    for s in current:
        if s.settled is Settled.BLOCKED:
            await block_chat(work, stores, s, now)
        elif s.settled is Settled.MIGRATED and s.migrate_to is not None:
            d = s.claim.delivery
            moved = ChatMigrated(
                bot_id=d.bot_id, old_chat_id=d.chat_id, new_chat_id=s.migrate_to, migrated_at=now
            )
            await chats.move_chat(work, stores, moved, d.correlation_id)
    return settlements


async def record_outcomes(
    work: Work,
    stores: Stores,
    settlements: Sequence[Settlement],
    spans: dict[str, trace.Span] | None = None,
) -> None:
    """Append each final settlement's event to its delivery's stream, after the version the
    delivery was stored at (a second outcome would fail the append), and publish them."""
    appends = []
    for s in settlements:
        if s.event is None:
            continue
        d = s.claim.delivery
        span = (spans or {}).get(d.delivery_id, trace.INVALID_SPAN)
        # Each event carries its own Telegram call's trace context.
        with trace.use_span(span, end_on_exit=False):
            envelope = work.wrap(s.event, d.correlation_id)
        appends.append(Append(streams.delivery_stream(d.delivery_id), s.claim.version, [envelope]))
    if not appends:
        return
    recorded = await work.append(appends)
    await work.publish([r.envelope for r in recorded])
    await stores.log.apply(recorded)


async def block_chat(work: Work, stores: Stores, s: Settlement, now: datetime) -> None:
    """Mark the chat blocked, once: its stream says whether it already is."""
    d = s.claim.delivery
    blocked = ChatBlocked(
        bot_id=d.bot_id, chat_id=d.chat_id, detected_by="send_forbidden", blocked_at=now
    )
    await decide(
        work,
        streams.chat_stream(d.bot_id, d.chat_id),
        streams.CHAT,
        lambda state: streams.block(state, blocked),
        project=stores.chats.apply,
        correlation_id=d.correlation_id,
    )


async def _pause_bot(stores: Stores, sending: Sending, bot_id: int, seconds: float) -> None:
    paces, _ = await stores.slots.lock([bot_id])
    db_now = await stores.slots.clock()  # once the row is held: the pause runs from now
    pace = paused_pace(paces[bot_id], db_now, seconds)
    await stores.slots.store({bot_id: pace})
    paused_to = pace.next_slot_at
    local = sending.local.paused_to
    local[bot_id] = max(paused_to, local.get(bot_id, paused_to))


def _update_health(sending: Sending, called: Called) -> None:
    verdict: Verdict = classify(called.answer, resend_when_unsure=sending.policy.resend_when_unsure)
    d = called.claim.delivery
    signal = signal_of(called.answer.error_code, counts_for_breaker(verdict))
    sending.local.breakers.note(d.bot_id, d.delivery_id, signal)

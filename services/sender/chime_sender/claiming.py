"""Claiming deliveries to send: each call gets one of its bot's send slots. No framework
imports.

A bot's slots are handed out from `bot_pacing` under a row lock, one claim after another
across every replica, so together they never exceed the bot token's rate. Breakers stay per
process (see `calling`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chime_kit.in_flight import oldest
from chime_kit.unit_of_work import UnitOfWork
from chime_sender.adapters.pacing import BotPacing
from chime_sender.adapters.postgres import DeliveryRepository
from chime_sender.calling import Sending
from chime_sender.domain.circuit import BreakerState
from chime_sender.domain.deliveries import Claim, choose
from chime_sender.domain.limits import clock_skew, grant_slots, slot_interval
from chime_sender.handlers import fail


def breaker_caps(sending: Sending, limit: int) -> dict[int, int]:
    """How many calls each bot's breaker lets start: none while open, one trial when
    half-open (if none is in flight in this process), else up to `limit`."""
    caps: dict[int, int] = {}
    for bot_id in sending.tokens:
        breaker = sending.breakers.of(bot_id)
        if not breaker.allows():
            caps[bot_id] = 0
        elif breaker.state is BreakerState.HALF_OPEN:
            caps[bot_id] = 1
        else:
            caps[bot_id] = limit
    return caps


def _callable(sending: Sending, claim: Claim) -> bool:
    return not claim.chat_blocked and claim.delivery.bot_id in sending.tokens


async def claim_ready(
    uow: UnitOfWork,
    sending: Sending,
    now: datetime,
    *,
    limit: int,
    lease: float,
    owner: str | None = None,
) -> list[Claim]:
    """Take what can be sent soon; fail at once what never can (no token, chat blocked).

    Each call taken gets one of its bot's send slots from `bot_pacing`, locked for this
    transaction so replicas hand out slots one after another. What finds no free slot (or
    chat) stays pending, untouched, for a later look.
    """
    repo = DeliveryRepository(uow.conn)
    pacing = BotPacing(uow.conn)
    lead = timedelta(seconds=sending.limits.lead)
    horizon = timedelta(seconds=sending.limits.horizon)
    interval = slot_interval(sending.limits)
    caps = breaker_caps(sending, limit)
    beyond = await pacing.beyond(lead + horizon)
    skip = {bot for bot, cap in caps.items() if cap <= 0} | set(beyond)
    candidates = await repo.ready(now, limit, sorted(skip), before=oldest(*sending.in_flight))
    if not candidates:
        return []
    next_slots, db_now = await pacing.lock(
        [c.delivery.bot_id for c in candidates if _callable(sending, c)]
    )
    budget = {bot: 0 for bot in sending.tokens} | {
        bot: len(grant_slots(next_at, db_now + lead, interval, caps[bot], horizon).starts)
        for bot, next_at in next_slots.items()
    }
    chosen = choose(candidates, budget)
    hopeless = [c for c in chosen if not _callable(sending, c)]
    callable_ = [c for c in chosen if _callable(sending, c)]
    lease_until = now + timedelta(seconds=lease)
    held = await repo.reserve_chats(
        [(c.delivery.bot_id, c.delivery.chat_id) for c in callable_], now, lease_until
    )
    for claim in hopeless:
        reason = "chat blocked the bot" if claim.chat_blocked else "no token for bot"
        await fail(uow, repo, claim, now, reason=reason, permanent=True, state="failed")
    by_bot: dict[int, list[Claim]] = {}
    for claim in callable_:
        if (claim.delivery.bot_id, claim.delivery.chat_id) in held:
            by_bot.setdefault(claim.delivery.bot_id, []).append(claim)
    # The bots' rows are still locked; granting on a later clock (closer to the calls) never
    # yields fewer slots than the budget counted, so each claim gets one.
    asked = datetime.now(UTC)
    db_now = await pacing.clock()
    skew = clock_skew(asked, db_now, datetime.now(UTC))
    taken: list[Claim] = []
    moved: dict[int, datetime] = {}
    for bot, claims in by_bot.items():
        grant = grant_slots(next_slots[bot], db_now + lead, interval, len(claims), horizon)
        moved[bot] = grant.next_slot_at
        taken += [
            replace(c, slot=start, send_at=start - skew, owner=owner)
            for c, start in zip(claims, grant.starts, strict=True)
        ]
    await pacing.store(moved)
    return await repo.mark_sending(taken, now, lease_until)

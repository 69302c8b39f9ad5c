"""Claiming deliveries to send: each call gets one of its bot's send slots.

A bot's slots are handed out from `bot_pacing` under a row lock, one claim after another
across every replica, so together they never exceed the bot token's rate. Each bot's circuit
breaker is shared too (`handlers.breakers`): an open one lets nothing be claimed, a half-open
one its single probe. What can never be sent (no token, chat blocked) fails at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chime_kit.in_flight import oldest
from chime_kit.streams import Work
from chime_kit.telegram import Answer
from chime_sender.domain.deliveries import Claim, choose
from chime_sender.domain.limits import clock_skew, grant_slots, slot_interval
from chime_sender.domain.settlement import CHAT_BLOCKED, Settled, Settlement, failed_event
from chime_sender.handlers import Sending, breakers
from chime_sender.handlers.settle import record_outcomes
from chime_sender.ports import Stores

NO_TOKEN = "no token for bot"  # noqa: S105 - a reason, not a secret


def _callable(sending: Sending, claim: Claim) -> bool:
    return not claim.chat_blocked and claim.delivery.bot_id in sending.tokens


def _hopeless(claim: Claim, now: datetime) -> Settlement:
    reason = CHAT_BLOCKED if claim.chat_blocked else NO_TOKEN
    event = failed_event(claim, now, reason=reason, permanent=True)
    return Settlement(
        claim, Answer(ok=False), Settled.FAILED, "failed", error=reason, event=event,
        outcome="failed", called=False,
    )  # fmt: skip


async def claim_ready(
    work: Work,
    stores: Stores,
    sending: Sending,
    now: datetime,
    *,
    limit: int,
    lease: float,
    owner: str | None = None,
    lead: float | None = None,
) -> list[Claim]:
    """Take what can be sent soon; fail at once what never can (no token, chat blocked).

    Each call taken gets one of its bot's send slots from `bot_pacing`, locked for this
    transaction so replicas hand out slots one after another. What finds no free slot (or
    chat) stays pending, untouched, for a later look.
    """
    deliveries, slots = stores.deliveries, stores.slots
    limits = sending.policy.limits
    # No slot starts sooner after the claim than `lead` (default: the configured one).
    lead_ = timedelta(seconds=limits.lead if lead is None else lead)
    horizon = timedelta(seconds=limits.horizon)
    intervals = {bot: slot_interval(sending.policy.limits_of(bot)) for bot in sending.tokens}
    await breakers.refresh(stores, sending)
    caps = breakers.caps(sending, limit)
    beyond = await slots.beyond(lead_ + horizon)
    skip = {bot for bot, cap in caps.items() if cap <= 0} | set(beyond)
    candidates = await deliveries.ready(
        now, limit, sorted(skip), before=oldest(*sending.local.in_flight)
    )
    if not candidates:
        return []
    next_slots, db_now = await slots.lock(
        [c.delivery.bot_id for c in candidates if _callable(sending, c)]
    )
    budget = {bot: 0 for bot in sending.tokens} | {
        bot: len(grant_slots(next_at, db_now + lead_, intervals[bot], caps[bot], horizon).starts)
        for bot, next_at in next_slots.items()
    }
    chosen = choose(candidates, budget)
    hopeless = [_hopeless(c, now) for c in chosen if not _callable(sending, c)]
    callable_ = await breakers.take_probes(
        stores, sending, [c for c in chosen if _callable(sending, c)]
    )
    lease_until = now + timedelta(seconds=lease)
    held = await deliveries.reserve_chats(
        [(c.delivery.bot_id, c.delivery.chat_id) for c in callable_], now, lease_until
    )
    if hopeless:
        await deliveries.settle(hopeless, now)
        await record_outcomes(work, stores, hopeless)
    by_bot: dict[int, list[Claim]] = {}
    unheld: dict[int, str] = {}
    for claim in callable_:
        d = claim.delivery
        if (d.bot_id, d.chat_id) in held:
            by_bot.setdefault(d.bot_id, []).append(claim)
        elif sending.local.breakers.is_probe(d.bot_id, d.delivery_id):
            unheld[d.bot_id] = d.delivery_id
    await breakers.release_probes(stores, sending, unheld)
    # The bots' rows are still locked; granting on a later clock (closer to the calls) never
    # yields fewer slots than the budget counted, so each claim gets one.
    asked = datetime.now(UTC)
    db_now = await slots.clock()
    skew = clock_skew(asked, db_now, datetime.now(UTC))
    taken: list[Claim] = []
    moved: dict[int, datetime] = {}
    for bot, claims in by_bot.items():
        grant = grant_slots(next_slots[bot], db_now + lead_, intervals[bot], len(claims), horizon)
        moved[bot] = grant.next_slot_at
        taken += [
            replace(c, slot=start, send_at=start - skew, owner=owner)
            for c, start in zip(claims, grant.starts, strict=True)
        ]
    await slots.store(moved)
    return await deliveries.mark_sending(taken, now, lease_until)

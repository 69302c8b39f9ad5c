"""Claiming deliveries to send: each call gets one of its bot's send slots.

A bot's slots are handed out from `bot_pacing` under a row lock, one claim after another
across every replica, so together they never exceed the bot token's rate. Each bot's circuit
breaker is shared too (`handlers.breakers`): an open one lets nothing be claimed, a half-open
one its single probe. What can never be sent (no token, chat blocked) fails at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chime_kit.in_flight import oldest
from chime_kit.streams import Work
from chime_kit.telegram import Answer
from chime_sender.domain.deliveries import Claim, Lane, choose
from chime_sender.domain.limits import BotPace, clock_skew, grant_lanes
from chime_sender.domain.settlement import CHAT_BLOCKED, Settled, Settlement, failed_event
from chime_sender.handlers import Sending, breakers
from chime_sender.handlers.settle import record_outcomes
from chime_sender.ports import Stores

NO_TOKEN = "no token for bot"  # noqa: S105 - a reason, not a secret


def _lane_kept(sending: Sending, claim: Claim) -> Claim:
    """A paid broadcast to a bot without paid broadcasting enabled is sent as a free one,
    flag dropped: Telegram would charge for it, and it is paced at the free rate anyway."""
    d = claim.delivery
    if d.paid and not sending.policy.limits_of(d.bot_id).paid:
        return replace(claim, delivery=d.unpaid())
    return claim


def _lanes_now(candidates: list[Claim], paces: Mapping[int, BotPace]) -> dict[int, bool]:
    """Which lane of each bot sends in this claim: that of its oldest ready delivery.

    Telegram counts paid sends against the free limit too, so a bot's free sends wait a
    window after its last paid one; taking one lane per claim keeps both in order of age
    (a bot's free sends queued behind a paid broadcast go when its backlog is through).
    """
    lanes: dict[int, bool] = {}
    for claim in candidates:
        d = claim.delivery
        if d.bot_id in paces and d.bot_id not in lanes and not claim.chat_blocked:
            lanes[d.bot_id] = d.paid
    return lanes


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
    await breakers.refresh(stores, sending)
    caps = breakers.caps(sending, limit)
    beyond = await slots.beyond(lead_ + horizon)
    skip = {bot for bot, cap in caps.items() if cap <= 0} | set(beyond)
    candidates = await deliveries.ready(
        now, limit, sorted(skip), before=oldest(*sending.local.in_flight)
    )
    if not candidates:
        return []
    candidates = [_lane_kept(sending, c) for c in candidates]
    paces, db_now = await slots.lock(
        [c.delivery.bot_id for c in candidates if _callable(sending, c)]
    )
    budget: dict[Lane, int] = {(bot, False): 0 for bot in sending.tokens} | {
        (bot, True): 0 for bot in sending.tokens if sending.policy.limits_of(bot).paid
    }
    for bot, paid in _lanes_now(candidates, paces).items():
        wanted = (0, caps[bot]) if paid else (caps[bot], 0)
        lanes = grant_lanes(paces[bot], db_now + lead_, sending.policy.limits_of(bot), *wanted,
                            horizon)  # fmt: skip
        budget[(bot, paid)] = len(lanes.paid if paid else lanes.free)
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
    moved: dict[int, BotPace] = {}
    for bot, claims in by_bot.items():
        unpaid = [c for c in claims if not c.delivery.paid]
        paid_ = [c for c in claims if c.delivery.paid]
        limits = sending.policy.limits_of(bot)
        grant = grant_lanes(paces[bot], db_now + lead_, limits, len(unpaid), len(paid_), horizon)
        moved[bot] = grant.pace
        taken += [
            replace(c, slot=start, send_at=start - skew, late=deadline - start, owner=owner)
            for c, start, deadline in [
                *zip(unpaid, grant.free, grant.free_deadlines, strict=True),
                *zip(paid_, grant.paid, grant.paid_deadlines, strict=True),
            ]
        ]
    await slots.store(moved)
    return await deliveries.mark_sending(taken, now, lease_until)

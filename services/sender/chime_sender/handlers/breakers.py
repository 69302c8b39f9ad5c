"""The shared circuit breakers as the sender's loop uses them: read the rows now and then,
claim a half-open bot's probe along with its claim, write the answers that move a breaker.

The rules are `domain.circuit`'s; the rows are behind `ports.BotBreakers`. A send costs no
query: the rows are read at most every `refresh_seconds`, and only an answer that can move a
breaker (a failure, the first success after one, a probe's) is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from chime_sender.domain.circuit import BreakerState, Signal, claim_probe, record
from chime_sender.domain.deliveries import Claim
from chime_sender.handlers import Sending
from chime_sender.metrics import BREAKER_STATE
from chime_sender.ports import Stores
from chime_sender.settings import SERVICE

log = logging.getLogger(__name__)
Noted = tuple[int, Signal, str | None]


def show(sending: Sending) -> None:
    """Each bot's breaker state, as this replica last read it, in the metrics."""
    for bot_id in sending.tokens:
        state = sending.local.breakers.state(bot_id)
        BREAKER_STATE.labels(SERVICE, str(bot_id)).set(state.value)


def describe(sending: Sending) -> dict[str, object]:
    """The breakers that are not closed and quiet, as this replica last read them (the
    detailed health view)."""
    view = sending.local.breakers
    now = view.now()
    return {
        str(bot): {
            "state": view.state(bot).name.lower(),
            "failures": b.failures,
            "opened_at": b.opened_at and b.opened_at.isoformat(),
            "cooldown_seconds": b.cooldown,
            "probe": b.probe_owner if now is not None and b.probe_taken(now) else None,
        }
        for bot, b in sorted(view.rows.items())
    }


async def refresh(stores: Stores, sending: Sending) -> None:
    """Read the shared rows again when this replica's copy is older than allowed."""
    view = sending.local.breakers
    if not view.stale():
        return
    rows, now = await stores.breakers.load()
    view.seen(rows, now, every=True)
    show(sending)


def caps(sending: Sending, limit: int) -> dict[int, int]:
    """How many calls each bot's breaker lets start: `limit` when closed, one probe when
    half-open with no probe taken, else none."""
    view = sending.local.breakers
    return {
        bot: limit if view.state(bot) is BreakerState.CLOSED else (1 if view.may_probe(bot) else 0)
        for bot in sending.tokens
    }


async def take_probes(stores: Stores, sending: Sending, claims: Sequence[Claim]) -> list[Claim]:
    """Keep, of the claims of bots whose breaker is not closed, the first of each bot as its
    probe when this replica wins it under the row lock; the others stay pending."""
    view = sending.local.breakers
    first: dict[int, Claim] = {}
    for c in claims:
        if view.state(c.delivery.bot_id) is not BreakerState.CLOSED:
            first.setdefault(c.delivery.bot_id, c)
    if not first:
        return list(claims)
    rows, now = await stores.breakers.lock(list(first))
    won = {}
    for bot, c in first.items():
        probing = claim_probe(rows[bot], c.delivery.delivery_id, now, view.rules)
        if probing is not None:
            won[bot] = rows[bot] = probing
    await stores.breakers.store(won)
    view.seen(rows, now, every=False)
    view.probes |= {bot: first[bot].delivery.delivery_id for bot in won}
    show(sending)

    def kept(c: Claim) -> bool:
        bot = c.delivery.bot_id
        return bot not in first or (bot in won and c is first[bot])

    return [c for c in claims if kept(c)]


async def release_probes(stores: Stores, sending: Sending, probes: Mapping[int, str]) -> None:
    """Give back probes claimed with calls that will not be made after all."""
    await record_health(stores, sending, [(bot, Signal.NEUTRAL, p) for bot, p in probes.items()])


async def record_health(stores: Stores, sending: Sending, noted: Sequence[Noted]) -> None:
    """Write answers `noted` (`Breakers.take()`) to the bots' shared rows, in order, under
    their row locks."""
    if not noted:
        return
    view = sending.local.breakers
    rows, now = await stores.breakers.lock([bot for bot, _, _ in noted])
    before = dict(rows)
    for bot, signal, probe in noted:
        rows[bot] = record(rows[bot], signal, now, view.rules, probe)
        if probe is not None and view.probes.get(bot) == probe:
            del view.probes[bot]
    changed = {bot: b for bot, b in rows.items() if b != before[bot]}
    await stores.breakers.store(changed)
    view.seen(rows, now, every=False)
    show(sending)
    for bot, b in changed.items():
        if b.opened_at is not None and b.opened_at != before[bot].opened_at:
            log.warning("bot %d: circuit breaker open for %.0f s", bot, b.cooldown)
        elif b.opened_at is None and before[bot].opened_at is not None:
            log.warning("bot %d: circuit breaker closed, a probe succeeded", bot)

"""Two sender replicas share each bot token's circuit breaker: what one of them learns (a
revoked token) stops both, and exactly one probe across both decides when to send again."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sender_harness import BOT_ID, TOKEN, Emulator, TelegramSpy, request

from chime_kit.telegram import Answer
from chime_kit.testing import EventTap, eventually
from chime_sender.domain.circuit import BreakerState
from chime_sender.entrypoints.service import Sender

pytestmark = pytest.mark.integration

COOLDOWN = 2.0
BREAKER = {
    "breaker_cooldown_seconds": COOLDOWN,
    "breaker_max_cooldown_seconds": 30.0,
    "breaker_refresh_seconds": 0.1,
    # Far longer than the test: a probe freed sooner was freed by its answer.
    "breaker_probe_lease_seconds": 120.0,
}


@dataclass
class Call:
    chat_id: int
    probe: bool  # the bot's probe, claimed by the replica that made the call
    started: float
    ended: float = 0.0
    answer: Answer | None = None


@dataclass
class Recorded(TelegramSpy):
    """One replica's Bot API calls, in a log shared by the replicas."""

    replica: Sender | None = None
    log: list[Call] = field(default_factory=list)

    async def call(self, token: SecretStr | str, method: str, payload: dict[str, Any]) -> Answer:
        assert self.replica is not None
        chat = payload["chat_id"]
        view = self.replica.delivery.sending.local.breakers
        entry = Call(chat, view.is_probe(BOT_ID, f"b-{chat}"), time.monotonic())
        self.log.append(entry)
        entry.answer = await self.inner.call(token, method, payload)
        entry.ended = time.monotonic()
        return entry.answer


async def replicas(emulator: Emulator, start_sender: Any, log: list[Call]) -> list[Sender]:
    started: list[Sender] = [await start_sender(emulator, **BREAKER) for _ in range(2)]
    for replica in started:
        api = replica.delivery.sending.api
        replica.delivery.sending.api = Recorded(api, replica=replica, log=log)
    return started


def states(senders: list[Sender]) -> list[BreakerState]:
    return [s.delivery.sending.local.breakers.state(BOT_ID) for s in senders]


def gauge() -> float | None:
    labels = {"service": "sender", "bot_id": str(BOT_ID)}
    return REGISTRY.get_sample_value("chime_sender_breaker_state", labels)


async def open_with_a_401(
    emulator: Emulator, senders: list[Sender], tap: EventTap, log: list[Call], chat: int
) -> None:
    """Revoke the bot's token (a new one replaces it), send once, give the token back."""
    await emulator.control("/bots", {"token": f"{BOT_ID}:revokedRevokedRevoked"})
    await tap.publish(request(f"b-{chat}", chat))
    [failed] = await tap.envelopes_of("send.failed.v1", within=20)
    assert failed["data"]["delivery_id"] == f"b-{chat}"

    async def open_everywhere() -> bool:
        return states(senders) == [BreakerState.OPEN] * 2

    await eventually(open_everywhere)
    # One replica met the 401; the other, which called nothing, stops too.
    assert [c.answer.error_code for c in log if c.answer] == [401]
    assert gauge() == BreakerState.OPEN.value
    await emulator.control("/bots", {"token": TOKEN})
    log.clear()


async def breaker_row(sender: Sender) -> dict[str, Any]:
    row = await sender.runtime.pool.fetchrow(
        "SELECT failures, opened_at, cooldown_seconds, probe_owner FROM bot_breakers"
        " WHERE bot_id = $1",
        BOT_ID,
    )
    return dict(row) if row else {}


async def test_a_401_opens_the_breaker_for_every_replica_and_one_probe_closes_it(
    emulator: Emulator, start_sender: Any, tap: EventTap
) -> None:
    chats = range(3000, 3008)
    for chat in chats:
        await emulator.private_chat(chat)
    log: list[Call] = []
    senders = await replicas(emulator, start_sender, log)
    await open_with_a_401(emulator, senders, tap, log, chats[0])

    waiting = chats[1:]
    await asyncio.gather(*(tap.publish(request(f"b-{chat}", chat)) for chat in waiting))
    sent = await tap.envelopes_of("message.sent.v1", count=len(waiting), within=30)
    assert sorted(e["data"]["chat_id"] for e in sent) == list(waiting)

    first, *rest = sorted(log, key=lambda c: c.started)
    assert first.probe
    assert first.answer is not None
    assert first.answer.ok
    assert [c for c in log if c.probe] == [first]  # exactly one probe, across both
    assert all(c.started >= first.ended for c in rest)  # nobody called before its answer

    async def closed_everywhere() -> bool:
        return states(senders) == [BreakerState.CLOSED] * 2

    await eventually(closed_everywhere)
    assert gauge() == BreakerState.CLOSED.value
    row = await breaker_row(senders[0])
    assert row["opened_at"] is None
    assert row["probe_owner"] is None


async def test_a_probe_that_meets_a_502_reopens_it_at_once_and_a_later_probe_closes_it(
    emulator: Emulator, start_sender: Any, tap: EventTap
) -> None:
    chats = range(3100, 3104)
    for chat in chats:
        await emulator.private_chat(chat)
    log: list[Call] = []
    senders = await replicas(emulator, start_sender, log)
    await open_with_a_401(emulator, senders, tap, log, chats[0])
    await emulator.control(
        "/faults", {"mode": "error", "status": 502, "methods": ["sendMessage"], "count": 1}
    )

    waiting = chats[1:]
    await asyncio.gather(*(tap.publish(request(f"b-{chat}", chat)) for chat in waiting))

    async def reopened() -> dict[str, Any] | None:
        row = await breaker_row(senders[0])
        return row if row.get("cooldown_seconds") == 2 * COOLDOWN else None

    # The 502 of the probe opened the breaker again, with twice the cooldown, and freed the
    # probe: not its lease (two minutes) running out.
    row = await eventually(reopened, within=30)
    assert row["probe_owner"] is None
    assert row["opened_at"] is not None

    sent = await tap.envelopes_of("message.sent.v1", count=len(waiting), within=40)
    assert sorted(e["data"]["chat_id"] for e in sent) == list(waiting)
    ordered = sorted(log, key=lambda c: c.started)
    probes = [c for c in ordered if c.probe]
    assert [p.answer.error_code for p in probes if p.answer] == [502, None]
    failed_probe, probe = probes
    assert probe.answer is not None
    assert probe.answer.ok
    assert ordered[:2] == probes  # each probe alone while the breaker was not closed
    assert all(c.started >= probe.ended for c in ordered[2:])
    assert probe.started >= failed_probe.ended


async def test_a_probe_answered_with_a_4xx_frees_the_probe_at_once(
    emulator: Emulator, start_sender: Any, tap: EventTap
) -> None:
    """A 400 says nothing of Telegram's health: the trial ends without deciding, and the
    next probe goes at once, not when the first one's two-minute lease runs out."""
    chats = range(3200, 3204)
    for chat in chats:
        await emulator.private_chat(chat)
    log: list[Call] = []
    senders = await replicas(emulator, start_sender, log)
    await open_with_a_401(emulator, senders, tap, log, chats[0])
    missing = 3299  # no such chat: Telegram answers 400 "chat not found"
    await tap.publish(request(f"b-{missing}", missing))

    async def stored() -> bool:
        query = "SELECT 1 FROM deliveries WHERE delivery_id = $1"
        return bool(await senders[0].runtime.pool.fetchval(query, f"b-{missing}"))

    await eventually(stored)  # the oldest pending, so the first probe
    waiting = chats[1:]
    await asyncio.gather(*(tap.publish(request(f"b-{chat}", chat)) for chat in waiting))

    sent = await tap.envelopes_of("message.sent.v1", count=len(waiting), within=60)
    assert sorted(e["data"]["chat_id"] for e in sent) == list(waiting)
    ordered = sorted(log, key=lambda c: c.started)
    probes = [c for c in ordered if c.probe]
    assert [p.chat_id for p in probes][:1] == [missing]
    assert [p.answer.error_code for p in probes if p.answer] == [400, None]
    assert ordered[:2] == probes
    assert probes[1].started - probes[0].ended < BREAKER["breaker_probe_lease_seconds"]
    assert all(c.started >= probes[1].ended for c in ordered[2:])
    row = await breaker_row(senders[0])
    assert row["opened_at"] is None

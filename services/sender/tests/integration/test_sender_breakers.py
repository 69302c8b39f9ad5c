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


REVOKED = f"{BOT_ID}:revokedRevokedRevoked"


@dataclass
class Opened:
    """Two replicas whose shared breaker a 401 opened, the token given back since."""

    emulator: Emulator
    senders: list[Sender]
    tap: EventTap
    log: list[Call]  # the calls since the breaker opened
    chats: range  # private chats that exist, none sent to yet


@pytest.fixture
async def opened(emulator: Emulator, start_sender: Any, tap: EventTap) -> Opened:
    """Revoke the bot's token (a new one replaces it), send once, give the token back."""
    first, *chats = range(3000, 3010)
    for chat in (first, *chats):
        await emulator.private_chat(chat)
    log: list[Call] = []
    senders = await replicas(emulator, start_sender, log)
    await emulator.control("/bots", {"token": REVOKED})
    await tap.publish(request(f"b-{first}", first))
    [failed] = await tap.envelopes_of("send.failed.v1", within=20)
    assert failed["data"]["delivery_id"] == f"b-{first}"

    async def open_everywhere() -> bool:
        return states(senders) == [BreakerState.OPEN] * 2

    await eventually(open_everywhere)
    # One replica met the 401; the other, which called nothing, stops too.
    assert [c.answer.error_code for c in log if c.answer] == [401]
    assert gauge() == BreakerState.OPEN.value
    await emulator.control("/bots", {"token": TOKEN})
    log.clear()
    return Opened(emulator, senders, tap, log, range(chats[0], chats[-1] + 1))


async def breaker_row(sender: Sender) -> dict[str, Any]:
    row = await sender.runtime.pool.fetchrow(
        "SELECT failures, opened_at, cooldown_seconds, probe_owner FROM bot_breakers"
        " WHERE bot_id = $1",
        BOT_ID,
    )
    return dict(row) if row else {}


async def test_a_401_opens_the_breaker_for_every_replica_and_one_probe_closes_it(
    opened: Opened,
) -> None:
    senders, tap, log, waiting = opened.senders, opened.tap, opened.log, opened.chats[:7]
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
    opened: Opened,
) -> None:
    senders, tap, log, waiting = opened.senders, opened.tap, opened.log, opened.chats[:3]
    await opened.emulator.control(
        "/faults", {"mode": "error", "status": 502, "methods": ["sendMessage"], "count": 1}
    )

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


async def test_a_probe_answered_with_a_4xx_frees_the_probe_at_once(opened: Opened) -> None:
    """A 400 says nothing of Telegram's health: the trial ends without deciding, and the
    next probe goes at once, not when the first one's two-minute lease runs out."""
    senders, tap, log = opened.senders, opened.tap, opened.log
    missing = 3299  # no such chat: Telegram answers 400 "chat not found"
    await tap.publish(request(f"b-{missing}", missing))

    async def stored() -> bool:
        query = "SELECT 1 FROM deliveries WHERE delivery_id = $1"
        return bool(await senders[0].runtime.pool.fetchval(query, f"b-{missing}"))

    await eventually(stored)  # the oldest pending, so the first probe
    waiting = opened.chats[:3]
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


async def test_a_probe_answered_401_fails_its_delivery_for_good(opened: Opened) -> None:
    """The token is still revoked when the breaker lets its probe through: the probe's
    delivery fails permanently with the reason, is not retried, and the breaker opens again
    (twice the cooldown) for both replicas."""
    senders, tap, log = opened.senders, opened.tap, opened.log
    await opened.emulator.control("/bots", {"token": REVOKED})
    chat = opened.chats[0]
    await tap.publish(request(f"b-{chat}", chat))

    _, failed = await tap.envelopes_of("send.failed.v1", count=2, within=30)
    data = failed["data"]
    assert data["delivery_id"] == f"b-{chat}"
    assert data["permanent"] is True
    assert data["error_code"] == 401
    assert "Unauthorized" in data["reason"]
    assert [(c.chat_id, c.probe, c.answer and c.answer.error_code) for c in log] == [
        (chat, True, 401)
    ]

    async def reopened() -> dict[str, Any] | None:
        row = await breaker_row(senders[0])
        return row if row.get("cooldown_seconds") == 2 * COOLDOWN else None

    row = await eventually(reopened, within=10)
    assert row["opened_at"] is not None
    assert row["probe_owner"] is None
    state = await senders[0].runtime.pool.fetchrow(
        "SELECT state, attempts FROM deliveries WHERE delivery_id = $1", f"b-{chat}"
    )
    assert dict(state) == {"state": "failed", "attempts": 1}
    await asyncio.sleep(COOLDOWN * 2 + 0.5)  # past the next probe's time: still one call
    assert len(log) == 1

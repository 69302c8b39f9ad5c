"""The sender's handlers and ports, on the in-memory fakes and on PostgreSQL: one suite, both
backends. The memory runs are the handlers' unit tests."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import SendRequested
from chime_contracts.events.shared import SendSource
from chime_kit.streams import Work
from chime_kit.telegram import Answer
from chime_kit.testing import Backend, contract_backend
from chime_sender.adapters.memory import InMemoryStores
from chime_sender.adapters.postgres import stores
from chime_sender.domain.circuit import Breakers
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.limits import Limits
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import Policy, Settled
from chime_sender.handlers import Local, Sending, claim, recovery, settle, store
from chime_sender.handlers.call import Called
from chime_sender.ports import Stores

BOT = 777
SOURCE = SendSource(kind="notification", id="n-1")


def sent(message_id: int) -> Answer:
    return Answer(ok=True, result={"message_id": message_id})


class Sender:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fakes = InMemoryStores()
        self.sending = Sending(
            api=None,  # type: ignore[arg-type]  # calls are made by the tests
            tokens={BOT: SecretStr("777:secret")},
            policy=Policy(Limits(), RetryPolicy(max_attempts=2, base=0.01, cap=0.01)),
            local=Local(breakers=Breakers(5, 30.0, lambda: 0.0)),
        )

    def stores(self, work: Work) -> Stores:
        return self.backend.pick(work, stores, self.fakes.stores())

    async def request(self, delivery_id: str, chat_id: int, text: str = "hi") -> Any:
        envelope: Envelope[Any] = envelope_of(
            SendRequested(
                delivery_id=delivery_id, bot_id=BOT, chat_id=chat_id, text=text,
                origin="api", source=SOURCE,
            ),
            producer="api",
        )  # fmt: skip
        async with self.backend.work(envelope) as work:
            return await store.store_send_request(work, self.stores(work), envelope)

    async def claim(self, now: datetime | None = None, owner: str | None = "me") -> list[Claim]:
        now = now or datetime.now(UTC) + timedelta(seconds=1)
        async with self.backend.work() as work:
            return await claim.claim_ready(
                work, self.stores(work), self.sending, now, limit=50, lease=30.0, owner=owner
            )

    async def settle(self, *calls: tuple[Claim, Answer]) -> tuple[list[Settled], Work]:
        async with self.backend.work() as work:
            done = await settle.settle_calls(
                work, self.stores(work), self.sending,
                [Called(c, a) for c, a in calls], datetime.now(UTC),
            )  # fmt: skip
        return [s.settled for s in done], work

    async def stream(self, stream_id: str) -> list[str]:
        async with self.backend.work() as work:
            return [e.type for e in (await work.load(stream_id)).events]

    async def status(self, delivery_id: str) -> str | None:
        async with self.backend.work() as work:
            return await self.stores(work).log.status(delivery_id)


@pytest.fixture
async def sender(contract_database: str | None) -> AsyncIterator[Sender]:
    async with contract_backend(contract_database, "sender", "chime_sender.migrations") as b:
        yield Sender(b)


async def test_a_request_is_recorded_and_queued_once(sender: Sender) -> None:
    assert await sender.request("d1", 1) is store.Stored.QUEUED
    assert await sender.request("d1", 1) is store.Stored.DUPLICATE
    assert await sender.stream("delivery-d1") == ["send.requested.v1"]
    assert await sender.status("d1") == "pending"
    [only] = await sender.claim()
    assert only.delivery.delivery_id == "d1"
    assert only.delivery.source == SOURCE


async def test_a_sent_message_records_its_outcome_with_the_source(sender: Sender) -> None:
    await sender.request("d2", 2)
    [c] = await sender.claim()
    settled, work = await sender.settle((c, sent(41)))
    assert settled == [Settled.SENT]
    [event] = work.emitted  # type: ignore[attr-defined]
    assert event.routing_key == "message.sent.v1.notification"
    assert (event.data.telegram_message_id, event.data.source) == (41, SOURCE)
    assert await sender.stream("delivery-d2") == ["send.requested.v1", "message.sent.v1"]
    assert await sender.status("d2") == "sent"
    assert await sender.claim() == []


async def test_a_long_message_is_sent_part_by_part_and_announced_once(sender: Sender) -> None:
    await sender.request("d3", -3, "word " * 1000)  # a group: no 1 s wait between parts
    [first] = await sender.claim()
    settled, work = await sender.settle((first, sent(1)))
    assert settled == [Settled.PART_SENT]
    assert work.emitted == []  # type: ignore[attr-defined]
    [second] = await sender.claim()
    assert second.parts_sent == 1
    settled, work = await sender.settle((second, sent(2)))
    assert settled == [Settled.SENT]
    [event] = work.emitted  # type: ignore[attr-defined]
    assert event.data.telegram_message_id == 1  # the first part's


async def test_a_blocked_chat_is_marked_once_and_fails_later_deliveries_at_once(
    sender: Sender,
) -> None:
    await sender.request("d4", 4)
    [c] = await sender.claim()
    forbidden = Answer(
        ok=False, error_code=403, description="Forbidden: bot was blocked by the user"
    )
    settled, work = await sender.settle((c, forbidden))
    assert settled == [Settled.BLOCKED]
    assert [e.type for e in work.emitted] == ["send.failed.v1", "chat.blocked.v1"]  # type: ignore[attr-defined]
    assert await sender.stream(f"chat-{BOT}:4") == ["chat.blocked.v1"]
    await sender.request("d5", 4)
    assert await sender.claim() == []  # failed at once, without a call
    assert await sender.status("d5") == "failed"


async def test_an_answer_for_a_claim_no_longer_held_is_stale(sender: Sender) -> None:
    await sender.request("d6", 6)
    [c] = await sender.claim(owner="dead")
    async with sender.backend.work() as work:
        assert await recovery.release_unsent(sender.stores(work), "dead", ["d6"], c.slot) == 1  # type: ignore[arg-type]
    settled, work = await sender.settle((c, sent(9)))
    assert settled == [Settled.STALE]
    assert work.emitted == []  # type: ignore[attr-defined]
    assert await sender.status("d6") == "pending"


async def test_transient_failures_retry_then_give_up(sender: Sender) -> None:
    await sender.request("d7", 7)
    down = Answer(ok=False, error_code=502, description="Bad Gateway")
    [c] = await sender.claim()
    assert (await sender.settle((c, down)))[0] == [Settled.RETRY]
    [again] = await sender.claim(datetime.now(UTC) + timedelta(seconds=2))
    assert again.attempt == 2
    settled, work = await sender.settle((again, down))
    assert settled == [Settled.DEAD]
    [failed] = work.emitted  # type: ignore[attr-defined]
    assert (failed.data.permanent, failed.data.attempts) == (False, 2)


async def test_a_lease_of_no_live_sender_ends_unknown_and_is_never_resent(sender: Sender) -> None:
    await sender.request("d8", 8)
    await sender.claim(owner=None)
    later = datetime.now(UTC) + timedelta(minutes=5)
    async with sender.backend.work() as work:
        assert await recovery.expire_leases(work, sender.stores(work), sender.sending, later) == 1
    [failed] = work.emitted  # type: ignore[attr-defined]
    assert failed.data.outcome_unknown is True
    assert await sender.status("d8") == "unknown"
    assert await sender.claim(later + timedelta(minutes=1)) == []


async def test_a_batch_settles_each_answer_on_its_own_terms(sender: Sender) -> None:
    for n in range(10, 14):
        await sender.request(f"b{n}", n)
    claims = sorted(await sender.claim(), key=lambda c: c.delivery.chat_id)
    answers = [
        sent(1),
        Answer(ok=False, error_code=400, description="Bad Request: chat not found"),
        Answer(ok=False, transport_error="timeout"),
        Answer(ok=False, error_code=429, description="Too Many Requests", retry_after=5),
    ]
    settled, work = await sender.settle(*zip(claims, answers, strict=True))
    assert settled == [Settled.SENT, Settled.FAILED, Settled.UNKNOWN, Settled.RATE_LIMITED]
    assert [e.data.delivery_id for e in work.emitted] == ["b10", "b11", "b12"]  # type: ignore[attr-defined]
    # The 429 paused the bot for every replica: nothing more is claimed for a while.
    await sender.request("b14", 14)
    assert await sender.claim() == []

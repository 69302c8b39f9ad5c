"""The sender's handlers and ports, on the in-memory fakes and on PostgreSQL: one suite, both
backends. The memory runs are the handlers' unit tests."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import (
    ChatMemberChanged,
    MessageDeleteRequested,
    MessageEditRequested,
    SendBatchRequested,
    SendRequested,
    UserStarted,
)
from chime_contracts.events.shared import BatchDelivery, InlineButton, SendSource
from chime_kit.streams import Work
from chime_kit.telegram import Answer
from chime_kit.testing import Backend, contract_backend
from chime_sender.adapters.memory import InMemoryStores
from chime_sender.adapters.postgres import stores
from chime_sender.domain.circuit import Breakers
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.limits import Limits
from chime_sender.domain.messages import payload_of
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import Policy, Settled
from chime_sender.handlers import Local, Sending, chats, claim, recovery, settle, store
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
            policy=Policy(
                Limits(),
                RetryPolicy(max_attempts=2, base=0.01, cap=0.01),
                per_bot={BOT: Limits(paid_rate=1000)},
            ),
            local=Local(breakers=Breakers()),
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


async def test_a_batch_of_requests_is_recorded_and_queued_once_each(sender: Sender) -> None:
    await sender.request("d0", 1)
    envelopes: list[Envelope[Any]] = [
        envelope_of(
            SendRequested(
                delivery_id=d, bot_id=BOT, chat_id=chat, text="hi", origin="api", source=SOURCE
            ),
            producer="api",
        )
        for d, chat in [("d1", 1), ("d0", 1), ("d2", 2), ("d1", 1), ("d3", -3)]
    ]
    async with sender.backend.work(envelopes[0]) as work:
        batch = store.Requests(sender.stores(work))
        batch.pending.extend(store.send_request(work, e) for e in envelopes)
        stored = await batch.store()
        assert await batch.store() == []  # what was stored is not stored again
    queued, duplicate = store.Stored.QUEUED, store.Stored.DUPLICATE
    assert stored == [queued, duplicate, queued, duplicate, queued]
    for d in ("d0", "d1", "d2", "d3"):
        assert await sender.stream(f"delivery-{d}") == ["send.requested.v1"]
        assert await sender.status(d) == "pending"
    claimed = await sender.claim()  # d1 waits for its chat, which d0 takes first
    assert [c.delivery.delivery_id for c in claimed] == ["d0", "d2", "d3"]
    assert {c.delivery.source for c in claimed} == {SOURCE}


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
        assert await recovery.release_unheld(sender.stores(work), "dead", [], c.slot) == 1  # type: ignore[arg-type]
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


async def deliver(sender: Sender, envelope: Envelope[Any], handler: Any) -> Any:
    async with sender.backend.work(envelope) as work:
        return await handler(work, sender.stores(work), envelope)


async def test_a_batch_becomes_one_delivery_per_chat_once(sender: Sender) -> None:
    batch = envelope_of(
        SendBatchRequested(
            batch_id="bc1", bot_id=BOT, chat_ids=[21, 22, 22, 23], text="Hi {name}",
            variables={"name": "<all>"}, parse_mode="HTML", source=SOURCE, paid_broadcast=True,
        ),
        producer="scheduler",
    )  # fmt: skip
    assert await deliver(sender, batch, store.store_send_batch) == 3
    again = envelope_of(batch.data, producer="scheduler")
    assert await deliver(sender, again, store.store_send_batch) == 0
    claims = sorted(await sender.claim(), key=lambda c: c.delivery.chat_id)
    assert [c.delivery.delivery_id for c in claims] == ["bc1:21", "bc1:22", "bc1:23"]
    assert claims[0].delivery.text == "Hi &lt;all&gt;"
    assert claims[0].delivery.options == {"allow_paid_broadcast": True}
    assert await sender.stream("delivery-bc1:22") == ["send.requested.v1"]


async def test_a_batch_of_deliveries_makes_exactly_those_each_with_its_own_message_once(
    sender: Sender, spans: Any
) -> None:
    """A firing batch's occurrences: each delivery by its own id, text, source, correlation
    id and trace; the batch's own text is not sent."""
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    deliveries = [
        BatchDelivery(
            delivery_id=f"schedule:s{n}:100", chat_id=chat, text=f"Hi {{name}} {n}",
            variables={"name": "<you>"}, parse_mode="HTML" if n == 1 else None,
            source=SendSource(kind="schedule", id=f"s{n}"), correlation_id=f"corr-{n}",
            traceparent=trace if n == 1 else None,
            buttons=[[InlineButton(text="Snooze", callback_data="snooze:15m")]],
        )
        for n, chat in ((1, 31), (2, 32), (3, 31))
    ]  # fmt: skip
    batch = envelope_of(
        SendBatchRequested(  # the first delivery twice: one delivery
            batch_id="fire:1", bot_id=BOT, chat_ids=[31, 32, 31, 31], text="batch text",
            source=deliveries[0].source, deliveries=[*deliveries, deliveries[0]],
        ),
        producer="scheduler",
    )  # fmt: skip
    assert await deliver(sender, batch, store.store_send_batch) == 3
    again = envelope_of(batch.data, producer="scheduler")
    assert await deliver(sender, again, store.store_send_batch) == 0
    # One message in flight per chat: chat 31's second delivery waits for its first.
    claims = sorted(await sender.claim(), key=lambda c: c.delivery.delivery_id)
    assert [c.delivery.delivery_id for c in claims] == ["schedule:s1:100", "schedule:s2:100"]
    assert [c.delivery.chat_id for c in claims] == [31, 32]
    assert [c.delivery.text for c in claims] == ["Hi &lt;you&gt; 1", "Hi <you> 2"]
    assert [c.delivery.source for c in claims] == [d.source for d in deliveries[:2]]
    assert [c.delivery.correlation_id for c in claims] == ["corr-1", "corr-2"]
    # The call continues the delivery's own trace, under the sender's span taking it.
    (taken,) = [
        s for s in spans.get_finished_spans()
        if s.attributes.get("chime.delivery_id") == "schedule:s1:100"
    ]  # fmt: skip
    assert (taken.name, taken.kind.name) == ("consume send.requested.v1", "CONSUMER")
    assert taken.parent is not None
    assert (taken.parent.trace_id, taken.parent.span_id) == (
        int(trace.split("-")[1], 16), int(trace.split("-")[2], 16),
    )  # fmt: skip
    assert claims[0].delivery.traceparent == (
        f"00-{taken.context.trace_id:032x}-{taken.context.span_id:016x}-01"
    )
    assert "reply_markup" in claims[0].delivery.options
    for d in deliveries:
        assert await sender.stream(f"delivery-{d.delivery_id}") == ["send.requested.v1"]


async def test_paid_deliveries_take_paid_slots_and_free_ones_wait_behind_them(
    sender: Sender,
) -> None:
    chats = list(range(600, 640))
    batch = envelope_of(
        SendBatchRequested(batch_id="pb", bot_id=BOT, chat_ids=chats, text="x", source=SOURCE,
                           paid_broadcast=True),
        producer="scheduler",
    )  # fmt: skip
    await deliver(sender, batch, store.store_send_batch)
    await sender.request("free-after", 700)
    now = datetime.now(UTC) + timedelta(seconds=1)
    claims = await sender.claim(now)
    # 40 paid slots fit the 250 ms horizon at ~1,000/s (the free rate would give 8); the
    # free delivery waits for the lane to change.
    assert sorted(c.delivery.chat_id for c in claims) == chats
    slots = sorted(c.slot for c in claims if c.slot is not None)
    assert timedelta(0) < slots[1] - slots[0] < timedelta(milliseconds=2)
    assert await sender.claim(now) == []


async def test_an_edit_names_a_sent_message_and_keeps_its_keyboard(sender: Sender) -> None:
    button = InlineButton(text="Snooze", callback_data="snooze:15m")
    envelope = envelope_of(
        SendRequested(delivery_id="e1", bot_id=BOT, chat_id=31, text="v1", origin="api",
                      buttons=[[button]]),
        producer="api",
    )  # fmt: skip
    await deliver(sender, envelope, store.store_send_request)
    [c] = await sender.claim()
    await sender.settle((c, sent(55)))
    early = envelope_of(
        MessageEditRequested(edit_id="x0", delivery_id="never-sent", text="v2"), producer="api"
    )
    assert await deliver(sender, early, store.store_edit) is store.Stored.REFUSED
    edit = envelope_of(
        MessageEditRequested(edit_id="x1", delivery_id="e1", text="v2"), producer="api"
    )
    assert await deliver(sender, edit, store.store_edit) is store.Stored.QUEUED
    [e] = await sender.claim(datetime.now(UTC) + timedelta(seconds=2))
    method, payload = payload_of(e.delivery, 0, ["v2"])
    assert method == "editMessageText"
    assert payload == {
        "chat_id": 31, "message_id": 55, "text": "v2",
        "reply_markup": {"inline_keyboard": [[{"text": "Snooze", "callback_data": "snooze:15m"}]]},
    }  # fmt: skip
    by_ids = envelope_of(
        MessageEditRequested(edit_id="x2", bot_id=BOT, chat_id=32, message_id=7, buttons=[]),
        producer="ingest",
    )
    assert await deliver(sender, by_ids, store.store_edit) is store.Stored.QUEUED
    delete = envelope_of(MessageDeleteRequested(delete_id="z1", delivery_id="e1"), producer="api")
    assert await deliver(sender, delete, store.store_delete) is store.Stored.QUEUED


async def test_a_blocked_chat_is_lifted_when_the_user_is_back(sender: Sender) -> None:
    await sender.request("u1", 41)
    [c] = await sender.claim()
    blocked = "Forbidden: bot was blocked by the user"
    await sender.settle((c, Answer(ok=False, error_code=403, description=blocked)))
    started = envelope_of(UserStarted(bot_id=BOT, chat_id=41, user_id=41), producer="ingest")
    assert await deliver(sender, started, chats.chat_reported) is True
    assert await deliver(sender, started, chats.chat_reported) is False  # nothing changed
    await sender.request("u2", 41)
    [again] = await sender.claim(datetime.now(UTC) + timedelta(seconds=2))
    assert again.delivery.delivery_id == "u2"
    kicked = envelope_of(
        ChatMemberChanged(bot_id=BOT, chat_id=41, chat_type="private", old_state="member",
                          new_state="kicked", changed_at=datetime.now(UTC)),
        producer="ingest",
    )  # fmt: skip
    assert await deliver(sender, kicked, chats.chat_reported) is True
    async with sender.backend.work() as work:
        assert await sender.stores(work).chats.blocked(BOT, 41)


async def test_a_group_that_became_a_supergroup_moves_and_is_sent_to_its_new_id(
    sender: Sender,
) -> None:
    await sender.request("m1", -51)
    await sender.request("m2", -51)
    [c] = await sender.claim()
    upgraded = Answer(
        ok=False, error_code=400, description="Bad Request: group chat was upgraded",
        migrate_to_chat_id=-10051,
    )  # fmt: skip
    settled, work = await sender.settle((c, upgraded))
    assert settled == [Settled.MIGRATED]
    [moved] = work.emitted  # type: ignore[attr-defined]
    assert (moved.type, moved.data.new_chat_id) == ("chat.migrated.v1", -10051)
    claims = await sender.claim(datetime.now(UTC) + timedelta(seconds=2))
    assert [(c.delivery.delivery_id, c.delivery.chat_id) for c in claims] == [("m1", -10051)]
    reported = envelope_of(moved.data, producer="ingest")
    assert await deliver(sender, reported, chats.chat_migrated) == 0  # already moved

"""Bot pools at the sender, on the in-memory fakes and on PostgreSQL: a chat is never sent
through a bot of its pool that it did not start; such a send fails at once, permanently,
with the reason, and is never queued (so never called)."""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from chime_contracts.envelope import Envelope, Event, envelope_of
from chime_contracts.events import (
    ChatAssigned,
    ChatAssignmentConfirmed,
    NotificationDue,
    SendBatchRequested,
    SendRequested,
    UserStarted,
)
from chime_contracts.events.shared import SendSource
from chime_kit.streams import Work
from chime_kit.testing import Backend, contract_backend
from chime_sender.adapters.memory import InMemoryStores
from chime_sender.adapters.postgres import stores
from chime_sender.domain.circuit import Breakers
from chime_sender.domain.limits import Limits
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import Policy
from chime_sender.entrypoints.consumers import SUBSCRIPTIONS, USER_STARTED_ROUTES
from chime_sender.handlers import Local, Sending, assignments, claim, store
from chime_sender.handlers.store import Stored
from chime_sender.ports import Assignments, Stores

FRONT, W1, W2, ELSEWHERE = 100, 101, 102, 500
CHAT = 42
NOTIFICATION = SendSource(kind="notification", id="n-1")
REPLY = SendSource(kind="reply", id="r-1")


class Lookups:
    """Assignments that note which of their methods are called."""

    def __init__(self, inner: Assignments, calls: list[str]) -> None:
        self.inner, self.calls = inner, calls

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.inner, name)


class Sender:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fakes = InMemoryStores()
        self.lookups: list[str] = []  # the assignments' methods batches called
        self.sending = Sending(
            api=None,  # type: ignore[arg-type]  # nothing is called here
            tokens={bot: SecretStr(f"{bot}:secret") for bot in (FRONT, W1, W2, ELSEWHERE)},
            policy=Policy(Limits(), RetryPolicy(max_attempts=2, base=0.01, cap=0.01)),
            local=Local(breakers=Breakers()),
        )

    def stores(self, work: Work) -> Stores:
        return self.backend.pick(work, stores, self.fakes.stores())

    async def told(self, event: Event) -> None:
        handler = {
            ChatAssigned: assignments.chat_assigned,
            ChatAssignmentConfirmed: assignments.assignment_confirmed,
            UserStarted: assignments.user_started,
        }[type(event)]
        envelope: Envelope[Any] = envelope_of(event, producer="ingest")
        async with self.backend.work(envelope) as work:
            await handler(work, self.stores(work), envelope)

    async def request(
        self, delivery_id: str, bot_id: int, chat_id: int = CHAT, source: SendSource = NOTIFICATION
    ) -> tuple[Stored, list[Any]]:
        envelope: Envelope[Any] = envelope_of(
            SendRequested(
                delivery_id=delivery_id, bot_id=bot_id, chat_id=chat_id, text="hi",
                origin="api", source=source,
            ),
            producer="api",
        )  # fmt: skip
        async with self.backend.work(envelope) as work:
            stored = await store.store_send_request(work, self.stores(work), envelope)
        return stored, list(work.emitted)  # type: ignore[attr-defined]

    async def batch(
        self, batch_id: str, bot_id: int, chat_ids: list[int], source: SendSource = NOTIFICATION
    ) -> tuple[int, list[Any]]:
        envelope: Envelope[Any] = envelope_of(
            SendBatchRequested(
                batch_id=batch_id, bot_id=bot_id, chat_ids=chat_ids, text="news", source=source
            ),
            producer="scheduler",
        )
        async with self.backend.work(envelope) as work:
            stores = self.stores(work)
            counted = replace(stores, assignments=Lookups(stores.assignments, self.lookups))
            queued = await store.store_send_batch(work, counted, envelope)
        return queued, list(work.emitted)  # type: ignore[attr-defined]

    async def queued(self) -> set[str]:
        now = datetime.now(UTC) + timedelta(seconds=1)
        async with self.backend.work() as work:
            found = await claim.claim_ready(
                work, self.stores(work), self.sending, now, limit=50, lease=30.0, owner="me"
            )
        return {c.delivery.delivery_id for c in found}

    async def status(self, delivery_id: str) -> str | None:
        async with self.backend.work() as work:
            return await self.stores(work).log.status(delivery_id)


@pytest.fixture
async def sender(contract_database: str | None) -> AsyncIterator[Sender]:
    async with contract_backend(contract_database, "sender", "chime_sender.migrations") as b:
        yield Sender(b)


def assigned(worker: int, started_bot: int = FRONT, chat_id: int = CHAT) -> ChatAssigned:
    return ChatAssigned(
        pool="main", chat_id=chat_id, user_id=chat_id, bot_id=worker, front_bot_id=FRONT,
        started_bot_id=started_bot, pool_bot_ids=[FRONT, W1, W2],
        assigned_at=datetime.now(UTC),
    )  # fmt: skip


async def test_a_send_through_a_worker_the_chat_never_started_is_refused(sender: Sender) -> None:
    await sender.told(assigned(W1))
    stored, emitted = await sender.request("d-w2", W2)
    assert stored is Stored.REFUSED
    [failed] = emitted
    assert failed.routing_key == "send.failed.v1.notification"
    assert failed.data.permanent
    assert failed.data.attempts == 0
    reason = f"chat {CHAT} never started bot {W2}: pool main serves it through bot {W1}"
    assert failed.data.reason == reason
    assert await sender.status("d-w2") == "failed"
    # A redelivered request is the same delivery: refused once, nothing emitted again.
    assert await sender.request("d-w2", W2) == (Stored.DUPLICATE, [])
    assert await sender.queued() == set()  # nothing to call Telegram with


async def test_the_chats_worker_its_front_and_bots_it_started_are_sent_through(
    sender: Sender,
) -> None:
    await sender.told(assigned(W1))
    assert (await sender.request("d-w1", W1))[0] is Stored.QUEUED  # its worker
    assert (await sender.request("d-front", FRONT))[0] is Stored.QUEUED  # it started the front
    await sender.told(UserStarted(bot_id=W2, chat_id=CHAT, user_id=CHAT))
    assert (await sender.request("d-w2", W2))[0] is Stored.QUEUED  # it started W2 as well
    assert await sender.queued() == {"d-w1", "d-front", "d-w2"}


async def test_a_chat_assigned_through_its_worker_never_started_the_front(sender: Sender) -> None:
    await sender.told(assigned(W2, started_bot=W2))
    assert (await sender.request("d-front", FRONT))[0] is Stored.REFUSED
    await sender.told(ChatAssignmentConfirmed(
        pool="main", chat_id=CHAT, user_id=CHAT, bot_id=FRONT, confirmed_at=datetime.now(UTC)
    ))  # fmt: skip
    assert (await sender.request("d-front-2", FRONT))[0] is Stored.QUEUED


async def test_replies_other_chats_groups_and_bots_outside_the_pool_go_on(sender: Sender) -> None:
    await sender.told(assigned(W1))
    # A reply answers what the chat just wrote to that bot: it is talking to it.
    assert (await sender.request("d-reply", W2, source=REPLY))[0] is Stored.QUEUED
    assert (await sender.request("d-other", W2, chat_id=CHAT + 1))[0] is Stored.QUEUED
    assert (await sender.request("d-group", W2, chat_id=-CHAT))[0] is Stored.QUEUED
    assert (await sender.request("d-elsewhere", ELSEWHERE))[0] is Stored.QUEUED
    assert len(await sender.queued()) == 4


async def test_facts_told_twice_change_nothing(sender: Sender) -> None:
    await sender.told(assigned(W1))
    await sender.told(assigned(W2))  # an assignment is decided once; a second is ignored
    assert (await sender.request("d-w2", W2))[0] is Stored.REFUSED
    assert (await sender.request("d-w1", W1))[0] is Stored.QUEUED


async def test_a_due_notification_is_checked_too(sender: Sender) -> None:
    await sender.told(assigned(W1))
    envelope: Envelope[Any] = envelope_of(
        NotificationDue(
            delivery_id="due-1", bot_id=W2, chat_id=CHAT, text="hi", source="reminder",
            source_id="r1", due_at=datetime.now(UTC), fired_at=datetime.now(UTC),
        ),
        producer="scheduler",
    )  # fmt: skip
    async with sender.backend.work(envelope) as work:
        assert await store.store_due_notification(work, sender.stores(work), envelope) is (
            Stored.REFUSED
        )


async def test_a_batch_fails_the_chats_that_never_started_its_bot_and_queues_the_rest(
    sender: Sender,
) -> None:
    await sender.told(assigned(W1))  # CHAT: worker W1, started the front
    await sender.told(assigned(W2, chat_id=CHAT + 1))  # CHAT + 1: worker W2
    await sender.told(assigned(W2, started_bot=W2, chat_id=CHAT + 2))  # never started the front
    await sender.told(UserStarted(bot_id=W2, chat_id=CHAT + 3, user_id=CHAT + 3))
    await sender.told(assigned(W1, chat_id=CHAT + 3))  # ...but it started W2 itself
    chats = [CHAT, CHAT + 1, CHAT + 2, CHAT + 3, CHAT + 4, -CHAT, CHAT]
    queued, emitted = await sender.batch("b1", W2, chats)
    assert queued == 5  # CHAT + 1 (its worker), + 3 (started), + 4 (no pool), the group; CHAT no
    assert sender.lookups == ["misrouted_chats"]  # one lookup for the whole batch
    [failed] = emitted
    assert failed.routing_key == "send.failed.v1.notification"
    assert failed.data.delivery_id == f"b1:{CHAT}"
    assert (failed.data.permanent, failed.data.attempts) == (True, 0)
    assert failed.data.source == NOTIFICATION
    reason = f"chat {CHAT} never started bot {W2}: pool main serves it through bot {W1}"
    assert failed.data.reason == reason
    assert await sender.status(f"b1:{CHAT}") == "failed"
    # The front: CHAT + 2 was assigned through its worker and never started the front.
    queued, emitted = await sender.batch("b2", FRONT, [CHAT, CHAT + 1, CHAT + 2])
    assert queued == 2
    assert [e.data.delivery_id for e in emitted] == [f"b2:{CHAT + 2}"]
    # Redelivered, the batches are the same deliveries: nothing queued or failed again.
    assert await sender.batch("b1", W2, chats) == (0, [])
    expected = {f"b1:{c}" for c in (CHAT + 1, CHAT + 2, CHAT + 3, CHAT + 4, -CHAT)}
    assert await sender.queued() == expected | {f"b2:{CHAT}", f"b2:{CHAT + 1}"}


async def test_a_batch_used_twice_refuses_its_new_chats_too(sender: Sender) -> None:
    await sender.told(assigned(W1))
    assert await sender.batch("b3", W2, [CHAT + 1]) == (1, [])
    # The same batch id with more chats takes the slow path (its first stream exists).
    queued, emitted = await sender.batch("b3", W2, [CHAT + 1, CHAT, CHAT + 5])
    assert queued == 1
    assert [e.data.delivery_id for e in emitted] == [f"b3:{CHAT}"]
    assert await sender.status(f"b3:{CHAT}") == "failed"
    assert await sender.queued() == {f"b3:{CHAT + 1}", f"b3:{CHAT + 5}"}


async def test_a_batch_of_replies_is_not_refused(sender: Sender) -> None:
    await sender.told(assigned(W1))
    assert await sender.batch("b4", W2, [CHAT], source=REPLY) == (1, [])


async def test_the_misrouted_chats_of_many_are_found_at_once(sender: Sender) -> None:
    for chat in range(1000, 1010):
        await sender.told(assigned(W1, chat_id=chat))
    async with sender.backend.work() as work:
        found = await sender.stores(work).assignments.misrouted_chats(W2, [*range(995, 1012), 1003])
    assert sorted(found) == list(range(1000, 1010))
    assert found[1005].reason(W2, 1005) == (
        f"chat 1005 never started bot {W2}: pool main serves it through bot {W1}"
    )


def test_the_sender_consumes_the_pool_facts() -> None:
    consumed = {event: handler for _, event, handler in SUBSCRIPTIONS if event is not SendRequested}
    assert consumed[ChatAssigned] is assignments.chat_assigned
    assert consumed[ChatAssignmentConfirmed] is assignments.assignment_confirmed
    assert UserStarted not in consumed  # one queue, two routes:
    assert [route.inbox for route in USER_STARTED_ROUTES] == [
        "sender.user-started", "sender.pool-user-started",
    ]  # fmt: skip


async def test_a_consumer_batch_of_requests_is_checked_in_one_lookup(sender: Sender) -> None:
    await sender.told(assigned(W1))
    requests = [
        ("b-w2", W2, CHAT, NOTIFICATION),  # its pool serves the chat through W1
        ("b-w1", W1, CHAT, NOTIFICATION),
        ("b-w1", W1, CHAT, NOTIFICATION),  # the same delivery twice in one batch
        ("b-reply", W2, CHAT, REPLY),
        ("b-group", W2, -CHAT, NOTIFICATION),
        ("b-other", W2, CHAT + 1, NOTIFICATION),
    ]
    envelopes: list[Envelope[Any]] = [
        envelope_of(
            SendRequested(
                delivery_id=d, bot_id=bot, chat_id=chat, text="hi", origin="api", source=source
            ),
            producer="api",
        )
        for d, bot, chat, source in requests
    ]
    async with sender.backend.work(envelopes[0]) as work:
        stores = sender.stores(work)
        counted = replace(stores, assignments=Lookups(stores.assignments, sender.lookups))
        batch = store.Requests(counted)
        batch.pending.extend(store.send_request(work, e) for e in envelopes)
        stored = await batch.store()
    assert stored == [
        Stored.REFUSED, Stored.QUEUED, Stored.DUPLICATE, Stored.QUEUED, Stored.QUEUED,
        Stored.QUEUED,
    ]  # fmt: skip
    assert sender.lookups == ["misrouted_pairs"]
    [failed] = work.emitted  # type: ignore[attr-defined]
    assert failed.data.delivery_id == "b-w2"
    assert await sender.status("b-w2") == "failed"
    assert await sender.queued() == {"b-w1", "b-reply", "b-group", "b-other"}

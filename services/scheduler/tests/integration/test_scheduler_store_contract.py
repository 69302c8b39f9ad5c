# ruff: noqa: RUF001 (the Ukrainian confirmation is meant)
"""The schedule, topic and broadcast handlers over every repository of `ports.Store`, on the
in-memory fakes and on PostgreSQL: one suite, both backends. The memory runs are the
handlers' unit tests."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastRequested,
    ChatBlocked,
    ChatStopped,
    LanguageSet,
    ListingRequested,
    ReminderRequested,
    ScheduleChangeRequested,
    SubscriptionRequested,
)
from chime_contracts.events.schedules import CronSpec, MessageTemplate, OnceSpec, ScheduleOwner
from chime_kit.streams import Work
from chime_kit.testing import Backend, contract_backend
from chime_scheduler import handlers
from chime_scheduler.adapters.memory import InMemoryStore
from chime_scheduler.adapters.postgres import PostgresStore
from chime_scheduler.ports import Store

from .flow import chat_owner, schedule_request

API = ScheduleOwner(kind="api_key", id="key_1")


class Harness:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fake = InMemoryStore()

    def store(self, work: Work) -> Store:
        return self.backend.pick(work, PostgresStore, self.fake)

    async def handle(
        self, handler: Callable[[Work, Store, Envelope[Any]], Awaitable[Any]], *requests: Any
    ) -> list[Envelope[Any]]:
        """Each request handled in its own unit of work; what they all emitted."""
        emitted = []
        for request in requests:
            async with self.backend.work(request) as work:
                await handler(work, self.store(work), request)
            emitted += work.emitted  # type: ignore[attr-defined]
        return emitted

    async def run(self, step: Callable[[Work, Store], Awaitable[Any]]) -> Any:
        async with self.backend.work() as work:
            return await step(work, self.store(work))


@pytest.fixture
async def harness(contract_database: str | None) -> AsyncIterator[Harness]:
    async with contract_backend(contract_database, "scheduler", "chime_scheduler.migrations") as b:
        yield Harness(b)


def change(ref: str, action: Any, chat_id: int = 5) -> Envelope[ScheduleChangeRequested]:
    return envelope_of(ScheduleChangeRequested(
        change_id=f"c-{ref}-{action}", schedule_id=ref, owner=chat_owner(chat_id), action=action,
        requested_at=datetime.now(UTC),
    ), producer="ingest")  # fmt: skip


def listing(chat_id: int = 5, what: Any = "schedules") -> Envelope[ListingRequested]:
    return envelope_of(ListingRequested(
        request_id=f"l-{what}", bot_id=1, chat_id=chat_id, what=what, time_zone="UTC",
        language="en", requested_at=datetime.now(UTC),
    ), producer="ingest")  # fmt: skip


def subscription(chat_id: int, action: Any = "subscribe") -> Envelope[SubscriptionRequested]:
    return envelope_of(SubscriptionRequested(
        bot_id=1, chat_id=chat_id, topic="news", action=action,
        requested_by=chat_owner(chat_id), requested_at=datetime.now(UTC),
    ), producer="ingest")  # fmt: skip


def texts(emitted: list[Envelope[Any]]) -> list[str]:
    return [e.data.text for e in emitted if e.type == "send.requested.v1"]


async def test_a_chat_creates_schedules_numbered_once_and_confirmed_in_its_language(harness):
    daily = CronSpec(expression="30 8 * * *")
    requests = [schedule_request(f"s{n}", daily, language="uk") for n in range(2)]
    emitted = await harness.handle(handlers.request_schedule, *requests)
    assert [e.type for e in emitted] == ["schedule.created.v1", "send.requested.v1"] * 2
    assert texts(emitted)[1].startswith("✅ Заплановано #2: text of s1\nнаступне: ")
    assert await harness.handle(handlers.request_schedule, requests[0]) == []
    assert await harness.run(lambda _, store: store.schedules.of_chat(1, 5)) == ["s0", "s1"]
    assert await harness.run(lambda _, store: store.schedules.of_chat(1, 6)) == []
    next_fire = await harness.run(lambda _, store: store.schedules.next_fire_at())
    assert datetime.now(UTC) < next_fire <= datetime.now(UTC) + timedelta(days=1)
    assert await harness.run(lambda _, store: store.schedules.counts()) == (2, 0)


async def test_a_schedule_is_paused_by_its_number_and_an_unknown_one_is_refused(harness):
    daily = CronSpec(expression="30 8 * * *")
    await harness.handle(handlers.request_schedule, *[
        schedule_request(f"s{n}", daily) for n in range(3)
    ])  # fmt: skip
    emitted = await harness.handle(handlers.change_schedule, change("#2", "pause"))
    assert [e.type for e in emitted] == ["schedule.changed.v1", "send.requested.v1"]
    assert texts(emitted) == ["⏸ Paused #2."]
    emitted = await harness.handle(handlers.change_schedule, change("#9", "cancel"))
    assert [e.type for e in emitted] == ["schedule.rejected.v1", "send.requested.v1"]
    assert "there is no schedule #9 in this chat" in texts(emitted)[0]
    # Another chat's numbers are its own.
    assert (await harness.handle(handlers.change_schedule, change("#1", "pause", 6)))[
        0
    ].type == "schedule.rejected.v1"
    assert await harness.run(lambda _, store: store.schedules.counts()) == (2, 0)
    assert await harness.run(lambda _, store: store.schedules.resolve(chat_owner(5), "s2")) == "s2"
    assert await harness.run(lambda _, store: store.schedules.resolve(chat_owner(6), "s2")) is None


async def test_a_chats_list_shows_its_schedules_by_number_then_its_reminders(harness):
    now = datetime.now(UTC)
    await harness.handle(handlers.request_schedule, *[
        schedule_request(f"s{n}", CronSpec(expression="0 9 * * *")) for n in range(2)
    ])  # fmt: skip
    await harness.handle(handlers.change_schedule, change("#1", "pause"))
    reminder = envelope_of(ReminderRequested(
        reminder_id="r1", bot_id=1, chat_id=5, user_id=5, text="call mum",
        due_at=now + timedelta(hours=2), time_zone="UTC", phrase="in 2h",
    ), producer="ingest")  # fmt: skip
    async with harness.backend.work(reminder) as work:
        await handlers.schedule_reminder(work, harness.store(work).reminders, reminder)
    [reply] = await harness.handle(handlers.answer_listing, listing())
    lines = reply.data.text.splitlines()
    assert lines[0] == "Your schedules, page 1 of 1:"
    assert lines[1].startswith("#1 ")
    assert "⏸ paused" in lines[1]
    assert lines[2].startswith("#2 ")
    assert lines[2].endswith(": text of s1")
    assert lines[3].startswith("⏰ r1 ")
    assert lines[3].endswith(": call mum")
    # The reminder is cancelled by its id, as the list shows it.
    emitted = await harness.handle(handlers.change_schedule, change("r1", "cancel"))
    assert [e.type for e in emitted] == ["send.requested.v1"]
    assert await harness.run(lambda _, store: store.reminders.status("r1")) == "cancelled"
    [reply] = await harness.handle(handlers.answer_listing, listing())
    assert len(reply.data.text.splitlines()) == 3


async def test_a_due_schedule_fires_once_and_a_finished_one_is_no_longer_due(harness):
    now = datetime.now(UTC)
    await harness.handle(handlers.request_schedule, schedule_request(
        "once", OnceSpec(at=now - timedelta(seconds=1)), requested_at=now - timedelta(seconds=2)
    ))  # fmt: skip
    assert await harness.run(lambda _, store: store.schedules.counts()) == (1, 1)

    async def fire(work: Work, store: Store) -> list[Any]:
        await handlers.fire_due_schedules(work, store, datetime.now(UTC), 10, timedelta(0))
        return list(work.emitted)  # type: ignore[attr-defined]

    [sent] = await harness.run(fire)
    assert (sent.type, sent.data.bot_id, sent.data.chat_ids) == ("send.batch.requested.v1", 1, [5])
    [occurrence] = sent.data.deliveries
    assert (occurrence.source.kind, occurrence.source.id, occurrence.chat_id) == (
        "schedule",
        "once",
        5,
    )
    assert occurrence.delivery_id == f"schedule:once:{int(occurrence.scheduled_for.timestamp())}"
    assert await harness.run(fire) == []
    assert await harness.run(lambda _, store: store.schedules.counts()) == (0, 0)
    assert await harness.run(lambda _, store: store.schedules.next_fire_at()) is None
    assert await harness.run(lambda _, store: store.schedules.of_chat(1, 5)) == []


async def test_a_topics_recipients_are_its_subscribers_less_blocked_and_stopped_ones(harness):
    emitted = await harness.handle(handlers.subscribe, *[subscription(c) for c in (7, 8, 9, 10)])
    assert texts(emitted)[0] == "🔔 Subscribed to news."
    again = await harness.handle(handlers.subscribe, subscription(7))
    assert texts(again) == ["You follow news already."]
    await harness.handle(handlers.subscribe, subscription(9, "unsubscribe"))
    blocked = envelope_of(ChatBlocked(
        bot_id=1, chat_id=8, detected_by="send_forbidden", blocked_at=datetime.now(UTC),
    ), producer="sender")  # fmt: skip
    await harness.handle(handlers.note_chat, blocked)
    for chat_id in (8, 10):  # blocked and stopped is told as blocked
        stopped = ChatStopped(bot_id=1, chat_id=chat_id, stopped_at=datetime.now(UTC))
        await harness.handle(handlers.note_chat, envelope_of(stopped, producer="ingest"))
    found = await harness.run(lambda _, store: store.subscriptions.recipients(1, "news"))
    assert found == ([7], [(8, "blocked"), (10, "stopped")])
    assert await harness.run(lambda _, s: s.subscriptions.topics_of(1, 7, 1, 10)) == (["news"], 1)
    assert await harness.run(lambda _, s: s.subscriptions.topics_of_chat(1, 9)) == []
    [reply] = await harness.handle(handlers.answer_listing, listing(7, "topics"))
    assert reply.data.text.splitlines()[1:] == ["news"]


async def test_a_chats_language_is_what_it_set_last(harness):
    def language(code: str) -> Envelope[LanguageSet]:
        return envelope_of(
            LanguageSet(bot_id=1, chat_id=7, language=code, chosen_by="command"),
            producer="ingest",
        )

    assert await harness.run(lambda _, store: store.chats.language(1, 7)) is None
    await harness.handle(handlers.note_chat, language("uk"), language("en"))
    assert await harness.run(lambda _, store: store.chats.language(1, 7)) == "en"
    assert await harness.run(lambda _, store: store.chats.language(1, 8)) is None


async def test_a_broadcast_starts_once_tallies_its_outcomes_and_is_cancelled_once(harness):
    await harness.handle(handlers.subscribe, *[subscription(c) for c in (7, 8)])
    requested = envelope_of(BroadcastRequested(
        broadcast_id="b1", owner=API, bot_id=1, topic="news",
        message=MessageTemplate(text="hello"), requested_at=datetime.now(UTC),
    ), producer="api")  # fmt: skip
    await harness.handle(handlers.request_broadcast, requested, requested)
    assert await harness.run(lambda _, s: s.broadcasts.next_due_at()) == requested.occurred_at

    async def start(work: Work, store: Store) -> list[str]:
        await handlers.start_due_broadcasts(work, store, datetime.now(UTC), 10)
        return [e.type for e in work.emitted]  # type: ignore[attr-defined]

    assert await harness.run(start) == ["broadcast.started.v1", "send.batch.requested.v1"]
    assert await harness.run(start) == []
    assert await harness.run(lambda _, s: s.broadcasts.next_due_at()) is None
    totals = await harness.run(lambda _, s: s.broadcasts.tally({"b1": (1, 0)}))
    assert totals == {"b1": (1, 0, 0, 2)}
    assert await harness.run(lambda _, s: s.broadcasts.outcomes("b1")) == (1, 0)
    assert await harness.run(lambda _, s: s.broadcasts.outcomes("b2")) == (0, 0)
    cancel = envelope_of(
        BroadcastCancelRequested(broadcast_id="b1", owner=API, requested_at=datetime.now(UTC)),
        producer="api",
    )
    [finished] = await harness.handle(handlers.cancel_broadcast, cancel)
    assert finished.type == "broadcast.finished.v1"
    assert (finished.data.cancelled, finished.data.handed, finished.data.sent) == (True, 2, 1)
    [refused] = await harness.handle(handlers.cancel_broadcast, cancel)
    assert refused.data.reason == "broadcast b1 was already cancelled"

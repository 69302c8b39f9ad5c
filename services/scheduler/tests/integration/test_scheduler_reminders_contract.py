"""The scheduler's handlers and its reminders port, on the in-memory fakes and on PostgreSQL:
one suite, both backends. The memory runs are the handlers' unit tests."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ReminderRequested, SendRequested
from chime_kit.streams import Work
from chime_kit.testing import Backend, contract_backend
from chime_scheduler import handlers
from chime_scheduler.adapters.memory import InMemoryReminders
from chime_scheduler.adapters.postgres import PostgresReminders
from chime_scheduler.ports import Reminders

NOW = datetime.now(UTC)


class Store:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fake = InMemoryReminders()

    def reminders(self, work: Work) -> Reminders:
        return self.backend.pick(work, PostgresReminders, self.fake)

    async def schedule(self, n: int, due_at: datetime, language: str | None = None) -> Work:
        request = envelope_of(
            ReminderRequested(
                reminder_id=f"r{n}", bot_id=1, chat_id=n, user_id=n, text=f"t{n}",
                due_at=due_at, time_zone="UTC", phrase="in 1m", language=language,
            ),
            producer="ingest",
        )  # fmt: skip
        async with self.backend.work(request) as work:
            await handlers.schedule_reminder(work, self.reminders(work), request)
        return work

    async def fire(self, now: datetime, limit: int = 100) -> list[str]:
        async with self.backend.work() as work:
            fired = await handlers.fire_due_reminders(work, self.reminders(work), now, limit)
        return [r.id for r in fired]

    async def status(self, reminder_id: str) -> str | None:
        async with self.backend.work() as work:
            return await self.reminders(work).status(reminder_id)

    async def stream_types(self, reminder_id: str) -> list[str]:
        async with self.backend.work() as work:
            return [e.type for e in (await work.load(f"reminder-{reminder_id}")).events]


@pytest.fixture
async def store(contract_database: str | None) -> AsyncIterator[Store]:
    async with contract_backend(contract_database, "scheduler", "chime_scheduler.migrations") as b:
        yield Store(b)


async def test_a_request_is_recorded_scheduled_and_confirmed_once(store: Store) -> None:
    first = await store.schedule(1, NOW + timedelta(hours=1))
    assert [e.type for e in first.emitted] == ["reminder.scheduled.v1", "send.requested.v1"]  # type: ignore[attr-defined]
    again = await store.schedule(1, NOW + timedelta(hours=1))
    assert again.emitted == []  # type: ignore[attr-defined]
    assert await store.stream_types("r1") == ["reminder.requested.v1", "reminder.scheduled.v1"]
    assert await store.status("r1") == "scheduled"


async def test_due_reminders_fire_once_in_due_order_and_close_their_stream(store: Store) -> None:
    await store.schedule(1, NOW + timedelta(seconds=2))
    await store.schedule(2, NOW - timedelta(seconds=1))
    await store.schedule(3, NOW + timedelta(hours=1))
    assert await store.fire(NOW + timedelta(seconds=5), limit=1) == ["r2"]
    assert await store.fire(NOW + timedelta(seconds=5)) == ["r1"]
    assert await store.fire(NOW + timedelta(seconds=5)) == []
    assert await store.status("r1") == "fired"
    assert await store.status("r3") == "scheduled"
    assert await store.stream_types("r1") == [
        "reminder.requested.v1", "reminder.scheduled.v1", "send.requested.v1",
    ]  # fmt: skip


async def test_the_fired_event_carries_the_request_and_its_correlation(store: Store) -> None:
    work = await store.schedule(9, NOW - timedelta(seconds=1))
    async with store.backend.work() as firing:
        await handlers.fire_due_reminders(firing, store.reminders(firing), NOW, 10)
    [fired] = firing.emitted  # type: ignore[attr-defined]
    assert isinstance(fired.data, SendRequested)
    assert fired.correlation_id == work.emitted[0].correlation_id  # type: ignore[attr-defined]
    assert (fired.data.delivery_id, fired.data.text, fired.occurred_at) == (
        "reminder:r9", "⏰ t9", NOW,
    )  # fmt: skip
    assert fired.data.source is not None
    assert fired.data.source.kind == "reminder"


async def test_next_due_is_the_earliest_still_scheduled(store: Store) -> None:
    async with store.backend.work() as work:
        assert await store.reminders(work).next_due_at() is None
    await store.schedule(1, NOW + timedelta(minutes=5))
    await store.schedule(2, NOW - timedelta(minutes=5))
    await store.fire(NOW)
    async with store.backend.work() as work:
        assert await store.reminders(work).next_due_at() == NOW + timedelta(minutes=5)


async def test_a_chats_reminders_are_those_of_that_chat_still_to_fire(store: Store) -> None:
    await store.schedule(1, NOW + timedelta(minutes=5))
    await store.schedule(2, NOW - timedelta(minutes=5))
    async with store.backend.work() as work:
        found = [await store.reminders(work).of_chat(1, chat_id) for chat_id in (1, 2, 3)]
    assert found == [["r1"], ["r2"], []]
    await store.fire(NOW)
    async with store.backend.work() as work:
        assert await store.reminders(work).of_chat(1, 2) == []


async def test_a_reminder_speaks_its_chats_language_when_confirmed_and_when_fired(
    store: Store,
) -> None:
    work = await store.schedule(5, NOW - timedelta(seconds=1), language="uk")
    confirmation = work.emitted[1].data  # type: ignore[attr-defined]
    assert isinstance(confirmation, SendRequested)
    assert confirmation.text.startswith("⏰ Гаразд, нагадаю ")
    async with store.backend.work() as firing:
        await handlers.fire_due_reminders(firing, store.reminders(firing), NOW, 10)
    [fired] = firing.emitted  # type: ignore[attr-defined]
    assert "💤 15 хв" in fired.data.model_dump_json()
    assert "15 min" not in fired.data.model_dump_json()

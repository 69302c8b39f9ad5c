"""A chat's state decided from its stream, on the in-memory fakes and on PostgreSQL: one
suite, both backends. The memory runs are the handlers' unit tests."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived
from chime_ingest import handlers
from chime_ingest.adapters.memory import InMemoryChats
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.ports import ChatRow, ChatsView
from chime_kit.event_store import Recorded
from chime_kit.streams import Work
from chime_kit.testing import Backend, contract_backend

BOT = 5
DEFAULT = "Europe/Kyiv"


class Ingest:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fake = InMemoryChats()
        self.update_id = 0

    def chats(self, work: Work) -> ChatsView:
        return self.backend.pick(work, PostgresChats, self.fake)

    async def say(self, text: str, chat_id: int = 1) -> dict[str, list[Any]]:
        self.update_id += 1
        body = {
            "update_id": self.update_id,
            "message": {
                "message_id": self.update_id, "date": 1, "text": text,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Bo"},
            },
        }  # fmt: skip
        received = envelope_of(
            UpdateReceived(bot_id=BOT, update_id=self.update_id, kind="message", update=body),
            producer="ingest",
        )
        async with self.backend.work(received) as work:
            await handlers.interpret(work, self.chats(work), received.data, DEFAULT)
        emitted: dict[str, list[Any]] = {}
        for e in work.emitted:  # type: ignore[attr-defined]
            emitted.setdefault(e.type, []).append(e.data)
        return emitted

    async def chat(self, chat_id: int = 1) -> tuple[ChatRow | None, list[str]]:
        async with self.backend.work() as work:
            row = await self.chats(work).get(BOT, chat_id)
            stream = await work.load(f"chat-{BOT}-{chat_id}")
        return row, [e.type for e in stream.events]


@pytest.fixture
async def ingest(contract_database: str | None) -> AsyncIterator[Ingest]:
    async with contract_backend(contract_database, "ingest", "chime_ingest.migrations") as b:
        yield Ingest(b)


async def test_start_records_each_start_and_welcomes_in_the_default_zone(ingest: Ingest) -> None:
    for _ in range(2):
        emitted = await ingest.say("/start")
        assert DEFAULT in emitted["send.requested.v1"][0].text
    row, types = await ingest.chat()
    assert types == ["user.started.v1", "user.started.v1"]
    assert row is not None
    assert row.time_zone is None
    assert row.started_at is not None


async def test_a_chosen_zone_is_recorded_once_and_read_back_from_the_stream(
    ingest: Ingest,
) -> None:
    assert "time_zone.set.v1" in await ingest.say("/tz america/new_york")
    again = await ingest.say("/tz America/New_York")
    assert "time_zone.set.v1" not in again  # nothing changed, nothing recorded
    assert "now America/New_York" in again["send.requested.v1"][0].text
    [asked] = (await ingest.say("/remind in 1h call"))["reminder.requested.v1"]
    assert asked.time_zone == "America/New_York"
    assert "New_York" in (await ingest.say("/start"))["send.requested.v1"][0].text
    row, types = await ingest.chat()
    assert types == ["time_zone.set.v1", "user.started.v1"]
    assert row is not None
    assert row.time_zone == "America/New_York"


async def test_chats_are_apart_and_unknown_zones_change_nothing(ingest: Ingest) -> None:
    await ingest.say("/tz Asia/Tokyo", chat_id=1)
    refused = await ingest.say("/tz Mars/Olympus", chat_id=2)
    assert set(refused) == {"send.requested.v1", "message.received.v1"}
    [asked] = (await ingest.say("/remind in 5m tea", chat_id=2))["reminder.requested.v1"]
    assert asked.time_zone == DEFAULT
    assert await ingest.chat(2) == (None, [])


async def test_language_stop_and_membership_fold_alike_on_both(ingest: Ingest) -> None:
    await ingest.say("/start")
    await ingest.say("/language uk")
    await ingest.say("/stop")
    row, types = await ingest.chat()
    assert types == ["user.started.v1", "language.set.v1", "chat.stopped.v1"]
    assert row is not None
    assert (row.language, row.stopped) == ("uk", True)
    await ingest.say("/start")
    row, _ = await ingest.chat()
    assert row is not None
    assert row.stopped is False


async def test_a_bot_username_set_is_read_back_and_replaced_alike_on_both(
    ingest: Ingest,
) -> None:
    async with ingest.backend.work() as work:
        chats = ingest.chats(work)
        assert await chats.bot_username(BOT) is None
        await chats.set_bot_username(BOT, "chime_bot")
        await chats.set_bot_username(BOT, "chime_new_bot")  # renamed since
        assert await chats.bot_username(BOT) == "chime_new_bot"
        assert await chats.bot_username(BOT + 1) is None


async def test_a_row_behind_its_stream_is_restored_alike_on_both(ingest: Ingest) -> None:
    await ingest.say("/start")
    await ingest.say("/language uk")
    async with ingest.backend.work() as work:
        events = [
            Recorded("chat-5-1", n, e)
            for n, e in enumerate((await work.load("chat-5-1")).events, start=1)
        ]
    row, _ = await ingest.chat()
    assert row is not None
    assert row.version == 2
    async with ingest.backend.work() as work:  # a restore at the version it holds: no change
        await ingest.chats(work).restore(BOT, 1, events)
        await ingest.chats(work).restore(BOT, 1, events[:1])  # nor at an earlier one
    assert (await ingest.chat())[0] == row

    await ingest.say("/stop")  # the row at version 3; then taken out of date by hand
    async with ingest.backend.work() as work:
        stream = (await work.load("chat-5-1")).events
        events = [Recorded("chat-5-1", n, e) for n, e in enumerate(stream, start=1)]
        await ingest.chats(work).apply(events[1:2])  # a version-2 event again: not current
    stale, _ = await ingest.chat()
    assert stale is not None
    assert stale.version is None
    async with ingest.backend.work() as work:
        await ingest.chats(work).restore(BOT, 1, events)
        assert await ingest.chats(work).snapshot(BOT, 1) is not None
    restored, _ = await ingest.chat()
    assert restored is not None
    assert (restored.language, restored.stopped, restored.version) == ("uk", True, 3)
    assert restored.started_at == stream[0].occurred_at

"""A chat's place in a bot pool decided from its assignment stream, on the in-memory fakes
and on PostgreSQL: one suite, both backends. The memory runs are the handlers' unit tests."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived
from chime_ingest import handlers
from chime_ingest.adapters.memory import InMemoryChats, InMemoryPools
from chime_ingest.adapters.pools import PostgresPools
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.domain.pools import Pool, Pools, encode_payload
from chime_ingest.ports import ChatsView, Pooling, PoolsView
from chime_kit.streams import Work
from chime_kit.testing import Backend, contract_backend

FRONT, W1, W2 = 30, 31, 32
POOLS = Pools((Pool("main", FRONT, (W1, W2)),))


class Ingest:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.chats_fake = InMemoryChats()
        self.pools_fake = InMemoryPools(self.chats_fake)
        self.update_id = 0

    def chats(self, work: Work) -> ChatsView:
        return self.backend.pick(work, PostgresChats, self.chats_fake)

    def pools(self, work: Work) -> PoolsView:
        return self.backend.pick(work, PostgresPools, self.pools_fake)

    async def named(self, *bots: int) -> None:
        async with self.backend.work() as work:
            for bot in bots:
                await self.chats(work).set_bot_username(bot, f"w{bot}_bot")

    async def start(self, bot: int, chat_id: int, text: str = "/start") -> dict[str, list[Any]]:
        self.update_id += 1
        body = {
            "update_id": self.update_id,
            "message": {
                "message_id": self.update_id, "date": 1, "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Bo"},
            },
        }  # fmt: skip
        received = envelope_of(
            UpdateReceived(bot_id=bot, update_id=self.update_id, kind="message", update=body),
            producer="ingest",
        )
        async with self.backend.work(received) as work:
            pooling = Pooling(POOLS, self.pools(work))
            await handlers.interpret(work, self.chats(work), received.data, "UTC", pooling)
        emitted: dict[str, list[Any]] = {}
        for e in work.emitted:  # type: ignore[attr-defined]
            emitted.setdefault(e.type, []).append(e.data)
        return emitted

    async def loads(self) -> list[tuple[int, int, int]]:
        async with self.backend.work() as work:
            return [(x.bot_id, x.chats, x.confirmed) for x in await self.pools(work).all_loads()]


@pytest.fixture
async def ingest(contract_database: str | None) -> AsyncIterator[Ingest]:
    async with contract_backend(contract_database, "ingest", "chime_ingest.migrations") as b:
        yield Ingest(b)


async def test_front_starts_alternate_workers_and_stick(ingest: Ingest) -> None:
    await ingest.named(W1, W2)
    first = await ingest.start(FRONT, 2)  # tie at 0: chat 2 % 2 picks W1
    assert first["chat.assigned.v1"][0].bot_id == W1
    assert "https://t.me/w31_bot?start=" in first["send.requested.v1"][0].text
    assert (await ingest.start(FRONT, 4))["chat.assigned.v1"][0].bot_id == W2  # W2 is emptier
    again = await ingest.start(FRONT, 2)
    assert "chat.assigned.v1" not in again
    assert "https://t.me/w31_bot?start=" in again["send.requested.v1"][0].text
    assert await ingest.loads() == [(W1, 1, 0), (W2, 1, 0)]


async def test_the_workers_start_confirms_once(ingest: Ingest) -> None:
    await ingest.named(W1, W2)
    await ingest.start(FRONT, 2)
    payload = encode_payload("main", 2)
    confirming = await ingest.start(W1, 2, f"/start {payload}")
    assert confirming["chat.assignment.confirmed.v1"][0].bot_id == W1
    assert "chat.assignment.confirmed.v1" not in await ingest.start(W1, 2)
    assert await ingest.loads() == [(W1, 1, 1)]


async def test_only_workers_with_a_username_are_chosen(ingest: Ingest) -> None:
    await ingest.named(W2)
    for chat in (1, 2, 3):
        assert (await ingest.start(FRONT, chat))["chat.assigned.v1"][0].bot_id == W2
    assert await ingest.loads() == [(W2, 3, 0)]


async def test_a_worker_started_directly_takes_the_chat(ingest: Ingest) -> None:
    emitted = await ingest.start(W2, 9)
    assert emitted["chat.assigned.v1"][0].started_bot_id == W2
    assert "I remind you of things on time" in emitted["send.requested.v1"][0].text
    assert await ingest.loads() == [(W2, 1, 1)]

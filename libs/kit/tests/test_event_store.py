from typing import ClassVar, Literal

import asyncpg
import pytest

from chime_contracts.envelope import Event, envelope_of
from chime_contracts.events import UserStarted
from chime_kit import event_store
from chime_kit.event_store import ConcurrencyError
from chime_kit.migrator import migrate

pytestmark = pytest.mark.integration


def env(n: int):
    return envelope_of(UserStarted(bot_id=1, chat_id=n, user_id=n), producer="demo")


async def test_append_load_and_optimistic_concurrency(runtime):
    async with runtime.pool.acquire() as conn:
        assert await event_store.append(conn, "s", 0, [env(1), env(2)]) == 2
        with pytest.raises(ConcurrencyError):
            await event_store.append(conn, "s", 1, [env(3)])
        assert await event_store.append(conn, "s", 2, [env(3)]) == 3
        loaded = await event_store.load(conn, "s")
        assert [e.data.chat_id for e in loaded.events] == [1, 2, 3]
        assert loaded.version == 3
        assert (await event_store.load(conn, "other")).version == 0
        assert await event_store.current_version(conn, "s") == 3
        assert await event_store.current_version(conn, "other") == 0


async def test_migrations_apply_once(runtime):
    async with runtime.pool.acquire() as conn:
        assert await migrate(conn, "demo", "fake_service_migrations") == []
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [
            "0001_notes",
            "kit/0001_event_store_outbox_inbox",
            "kit/0002_events_append_only",
            "kit/0003_outbox_partitions",
            "kit/0004_outbox_notify",
        ]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'x'", "DELETE FROM events", "TRUNCATE events"],
)
async def test_recorded_events_cannot_be_rewritten(runtime, statement):
    async with runtime.pool.acquire() as conn:
        await event_store.append(conn, "s", 0, [env(1)])
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(statement)
        assert await event_store.current_version(conn, "s") == 1


class _Noted(Event):
    """A type only this test's service knows: stored, never published."""

    type: Literal["test.noted.v1"] = "test.noted.v1"
    producer: ClassVar[str] = "demo"
    text: str


async def test_a_private_event_type_loads_once_registered(runtime):
    noted = envelope_of(_Noted(text="kept home"), producer="demo")
    async with runtime.pool.acquire() as conn:
        await event_store.append(conn, "private", 0, [noted])
        with pytest.raises(KeyError, match=r"test\.noted\.v1"):
            await event_store.load(conn, "private")
        event_store.register_private(_Noted)
        [loaded] = (await event_store.load(conn, "private")).events
        assert loaded.data == _Noted(text="kept home")


async def test_appends_to_several_streams_take_positions_in_order_and_fail_together(runtime):
    async with runtime.pool.acquire() as conn:
        await event_store.append(conn, "b", 0, [env(9)])
        appends = [
            event_store.Append("a", 0, [env(1), env(2)]),
            event_store.Append("b", 1, [env(3)]),
            event_store.Append("c", 0, [env(4)]),
        ]
        recorded = await event_store.append_many(conn, appends)
        assert [(r.stream_id, r.version) for r in recorded] == [
            ("a", 1),
            ("a", 2),
            ("b", 2),
            ("c", 1),
        ]
        rows = await conn.fetch("SELECT event_id, envelope FROM events ORDER BY position")
        assert [r["event_id"] for r in rows[1:]] == [r.envelope.id for r in recorded]
        assert rows[1]["envelope"] == recorded[0].envelope.model_dump(mode="json")
        stale = [event_store.Append("d", 0, [env(5)]), event_store.Append("a", 1, [env(6)])]
        with pytest.raises(ConcurrencyError):
            async with conn.transaction():
                await event_store.append_many(conn, stale)
        assert await event_store.current_version(conn, "d") == 0
        assert [e.data.chat_id for e in (await event_store.load(conn, "a")).events] == [1, 2]

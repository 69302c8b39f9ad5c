"""Work gathered by the handlers of one transaction and written once, just before it
commits (a consumer's whole batch), or not at all when it rolls back."""

import pytest

from chime_kit.unit_of_work import transaction

pytestmark = pytest.mark.integration


class Notes:
    def __init__(self, conn) -> None:
        self.conn = conn
        self.bodies: list[str] = []
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1
        await self.conn.executemany(
            "INSERT INTO notes (id, body) VALUES ($1, $1)", [(b,) for b in self.bodies]
        )


async def test_the_units_of_a_transaction_share_one_object_flushed_once(runtime):
    async with transaction(runtime.pool, "demo") as tx:
        first = tx.unit().before_commit("notes", lambda: Notes(tx.conn))
        first.bodies.append("a")
        second = tx.unit().before_commit("notes", lambda: Notes(tx.conn))
        second.bodies.append("b")
        assert second is first
        assert await tx.conn.fetchval("SELECT count(*) FROM notes") == 0
    assert first.flushes == 1
    assert sorted(await runtime.pool.fetchval("SELECT array_agg(id) FROM notes")) == ["a", "b"]


async def test_nothing_is_flushed_when_the_transaction_fails(runtime):
    made: list[Notes] = []

    async def failing_handler() -> None:
        async with transaction(runtime.pool, "demo") as tx:
            notes = tx.unit().before_commit("notes", lambda: Notes(tx.conn))
            notes.bodies.append("a")
            made.append(notes)
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler"):
        await failing_handler()
    assert [n.flushes for n in made] == [0]
    assert await runtime.pool.fetchval("SELECT count(*) FROM notes") == 0

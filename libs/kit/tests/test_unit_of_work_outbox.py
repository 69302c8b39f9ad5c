"""A transaction's outbox rows: written together just before it commits, in the order its
units published them, and never for what a rolled-back savepoint published."""

import pytest

from chime_contracts.events import UserStarted
from chime_kit.unit_of_work import transaction

pytestmark = pytest.mark.integration


def started(n: int) -> UserStarted:
    return UserStarted(bot_id=1, chat_id=n, user_id=n)


async def outbox_ids(runtime) -> list[str]:
    rows = await runtime.pool.fetch("SELECT event_id FROM outbox ORDER BY id")
    return [r["event_id"] for r in rows]


async def fail_within(context, uow, event) -> None:
    """Publish `event` inside `context`, then fail."""
    async with context:
        await uow.emit(event)
        raise RuntimeError("lost a race")


async def test_a_transactions_publications_are_written_at_once_in_order(runtime):
    async with transaction(runtime.pool, "demo") as tx:
        first = await tx.unit().emit(started(1), started(2))
        second = await tx.unit().emit(started(3))
        assert await tx.conn.fetchval("SELECT count(*) FROM outbox") == 0
    assert await outbox_ids(runtime) == [e.id for e in first + second]


async def test_what_a_failed_attempt_published_is_not_written(runtime):
    async with transaction(runtime.pool, "demo") as tx:
        uow = tx.unit()
        kept = await uow.emit(started(4))
        with pytest.raises(RuntimeError):
            await fail_within(uow.attempt(), uow, started(5))
        async with uow.attempt():
            kept += await uow.emit(started(6))
        with pytest.raises(RuntimeError):
            await fail_within(tx.savepoint(), tx.unit(), started(7))
        assert [e.id for e in uow.emitted] == [e.id for e in kept]
    assert await outbox_ids(runtime) == [e.id for e in kept]


async def test_nothing_is_written_when_the_transaction_fails(runtime):
    async def failing() -> None:
        async with transaction(runtime.pool, "demo") as tx:
            await fail_within(tx.savepoint(), tx.unit(), started(8))

    with pytest.raises(RuntimeError):
        await failing()
    assert await outbox_ids(runtime) == []

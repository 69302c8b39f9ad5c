"""The interpreter loop on real PostgreSQL: each update interpreted once, a chat's updates in
order, replicas sharing the work, a poison update isolated, a crash mid-round harmless."""

import asyncio

import orjson
import pytest
from ingest_harness import BOT, caused, message, receipts

from chime_ingest import handlers
from chime_ingest.adapters.update_log import UpdateLog
from chime_ingest.entrypoints.interpreter import Interpreter, retry_delay
from chime_kit.db import create_pool
from chime_kit.testing import eventually
from chime_kit.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


async def store(intake, bodies):
    return await asyncio.gather(*(intake.receive(BOT, b) for b in bodies))


async def drained(runtime):
    return await runtime.pool.fetchval("SELECT count(*) = 0 FROM update_queue")


def interleaved(chats: int, per_chat: int, first_id: int = 1) -> list[dict]:
    """Updates of `chats` chats, their turns interleaved, update ids rising."""
    bodies = []
    for n in range(per_chat):
        for chat in range(chats):
            text = "/start" if n % 2 == 0 else "/help"
            bodies.append(message(first_id + len(bodies), 100 + chat, text))
    return bodies


async def run(*interpreters):
    for i in interpreters:
        i.start()
    try:
        runtime = interpreters[0].runtime
        await eventually(lambda: drained(runtime), within=60)
    finally:
        for i in interpreters:
            await i.stop()


def chat_of(update_id: int, chats: int) -> int:
    return (update_id - 1) % chats


async def test_two_loops_interpret_each_update_once_and_each_chat_in_order(runtime, intake):
    chats, per_chat = 12, 15
    bodies = interleaved(chats, per_chat)
    assert set(await store(intake, bodies)) == {"accepted"}
    event_of = await receipts(runtime)
    first = Interpreter(runtime, "UTC", batch_size=7, name="first")
    second = Interpreter(runtime, "UTC", batch_size=5, name="second")
    await run(first, second)

    emitted = await caused(runtime)
    assert set(emitted) == set(event_of.values())  # every update caused something, no other
    for types in emitted.values():
        assert len(types) == len(set(types)), types  # nothing emitted twice
    # Outbox order is commit order: each chat's updates were interpreted in update order.
    rows = await runtime.pool.fetch("SELECT body FROM outbox ORDER BY id")
    update_of = {event: update for update, event in event_of.items()}
    seen: dict[int, list[int]] = {}
    for row in rows:
        update = update_of[orjson.loads(row["body"])["causation_id"]]
        order = seen.setdefault(chat_of(update, chats), [])
        if not order or order[-1] != update:
            order.append(update)
    for chat, order in seen.items():
        assert order == sorted(order), chat
        assert len(order) == per_chat


async def test_a_chat_is_claimed_by_one_claimer_at_a_time(runtime, intake):
    await store(intake, interleaved(3, 4))  # chats 100, 101, 102: updates 1-3, 4-6, ...
    async with runtime.pool.acquire() as a, runtime.pool.acquire() as b:
        async with a.transaction():
            held = await UpdateLog(a).claim(3)
            assert [c.update_id for c in held] == [1, 2, 3]  # the head of each chat first
            async with b.transaction():
                # The heads are locked, and what follows them waits behind them.
                assert await UpdateLog(b).claim(100) == []
            await UpdateLog(a).interpreted([c.seq for c in held])
        async with b.transaction():
            # With room to spare, a claim takes what follows its heads too, in order.
            assert [c.update_id for c in await UpdateLog(b).claim(100)] == list(range(4, 13))


async def test_a_poison_update_is_marked_and_neither_its_batch_nor_its_chat_waits(runtime, intake):
    await store(intake, [message(1, 7), message(2, 8)])
    # An accepted row interpret cannot read (written by hand: the receive path refuses it).
    async with runtime.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO updates (bot_id, update_id, kind, status, payload, chat_id)"
            " VALUES ($1, 3, 'message', 'accepted', $2, 9)",
            BOT,
            # A chat id wider than PostgreSQL's bigint: reading it works, storing it cannot.
            message(3, 2**63, "/start"),
        )
        await conn.execute(
            "INSERT INTO update_queue (bot_id, update_id, chat_key, event_id)"
            " VALUES ($1, 3, 9, 'poison-receipt')",
            BOT,
        )
    await store(intake, [message(4, 9), message(5, 7)])
    interpreter = Interpreter(runtime, "UTC", max_attempts=2)
    # Claimed: the heads 1, 2, 3 and their chats' followers 4 (behind 3) and 5 (behind 1).
    assert await interpreter.round() == 5
    row = await runtime.pool.fetchrow(
        "SELECT attempts, last_error FROM update_queue WHERE update_id = 3"
    )
    assert row["attempts"] == 1
    assert row["last_error"]  # what interpret raised, for the operator
    # 1, 2 and 5 were interpreted; 4 was not, for its chat waits behind 3.
    queued = await runtime.pool.fetch("SELECT update_id FROM update_queue ORDER BY seq")
    assert [r["update_id"] for r in queued] == [3, 4]
    assert await interpreter.round() == 0  # 3 is not due again yet, and 4 is behind it
    await asyncio.sleep(retry_delay(1))
    assert await interpreter.round() == 2  # 3 again and 4: the second failure makes 3 poison
    status = await runtime.pool.fetchrow("SELECT status, reason FROM updates WHERE update_id = 3")
    assert status["status"] == "poison"
    assert status["reason"] == row["last_error"]
    assert await interpreter.round() == 1  # 4: its chat goes on
    assert await drained(runtime)
    assert "poison-receipt" not in await caused(runtime)


async def test_a_round_that_dies_before_its_commit_leaves_nothing_and_loses_nothing(
    runtime, intake, database_url
):
    await store(intake, interleaved(4, 3))
    event_of = await receipts(runtime)
    # A claimer that interprets its batch and dies before committing, as under kill -9:
    # its session ends, PostgreSQL rolls its transaction back and drops its row locks.
    dying_pool = await create_pool(database_url, "ingest", min_size=1, max_size=1)
    dying = await dying_pool.acquire()
    await dying.transaction().start()
    claimed = await UpdateLog(dying).claim(100)
    assert len(claimed) == 12
    for one in claimed:
        receipt = handlers.receipt_of(one)
        await handlers.interpret_update(UnitOfWork(dying, "ingest", receipt), receipt, "UTC")
    await UpdateLog(dying).interpreted([c.seq for c in claimed])
    survivor = Interpreter(runtime, "UTC")
    assert await survivor.round() == 0  # every chat's head is held by the dying claimer
    dying_pool.terminate()
    await run(survivor)
    emitted = await caused(runtime)
    assert set(emitted) == set(event_of.values())
    for types in emitted.values():
        assert len(types) == len(set(types))

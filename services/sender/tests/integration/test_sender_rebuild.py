"""`python -m chime_sender rebuild` re-derives delivery_log and chats from the streams, row
for row, after a workload of sends, long messages, blocked chats, refusals, duplicates and a
notification through the real sender and the emulator."""

import asyncio

import pytest
from sender_harness import BOT_ID, Emulator, request

from chime_contracts.envelope import envelope_of
from chime_contracts.events import NotificationDue
from chime_kit.testing import EventTap, table_rows
from chime_sender.__main__ import CLI
from chime_sender.entrypoints.service import Sender

pytestmark = pytest.mark.integration


async def test_rebuilt_projections_equal_the_live_ones(
    emulator: Emulator, start_sender, tap: EventTap, database_url: str
) -> None:
    chats = list(range(300, 330))
    for chat in chats:
        await emulator.private_chat(chat)
    await emulator.control(f"/bots/{BOT_ID}/block", {"user_id": 301})
    await emulator.control(f"/bots/{BOT_ID}/block", {"user_id": 302})
    sender: Sender = await start_sender(emulator)
    requests = [request(f"r-{chat}", chat, f"hello {chat}") for chat in chats]
    requests += [request("r-long", 303, "word " * 1200), request("r-gone", 999)]
    requests += [request("r-blocked-again", 301), request(requests[0].data.delivery_id, 300)]
    for envelope in requests:
        await tap.publish(envelope)
    due = NotificationDue(
        delivery_id="reminder:x", source="reminder", source_id="x", bot_id=BOT_ID,
        chat_id=304, text="⏰ x", due_at=requests[0].occurred_at, fired_at=requests[0].occurred_at,
    )  # fmt: skip
    await tap.publish(envelope_of(due, producer="scheduler"))
    outcomes = await tap.envelopes_of("message.sent.v1", count=30, within=60)
    assert len(outcomes) == 30  # 30 chats less two blocked, a long one and a notification
    failed = await tap.envelopes_of("send.failed.v1", count=4)
    assert len(failed) == 4
    pool = sender.runtime.pool

    async def settled() -> bool:
        return not await pool.fetchval("SELECT count(*) FROM delivery_log WHERE state = 'pending'")

    for _ in range(100):
        if await settled():
            break
        await asyncio.sleep(0.1)
    log = await table_rows(pool, "delivery_log")
    blocked = await table_rows(pool, "chats")
    assert len(log) == 30 + 4  # the duplicate is one delivery
    assert len(blocked) == 2

    rebuilt = await CLI.rebuild(database_url)
    assert rebuilt.tables == ("delivery_log", "chats")
    assert await table_rows(pool, "delivery_log") == log
    assert await table_rows(pool, "chats") == blocked

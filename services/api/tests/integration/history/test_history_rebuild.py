"""`python -m chime_api rebuild` re-derives history and stats from the history log row for
row, after a workload with edits, redeliveries, outcomes before requests, batches, blocks,
a forgotten chat and a retention drop; forgetting leaves what a history without the chat
would have."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from history_support import (
    BOT,
    NOW,
    apply,
    batch,
    blocked,
    failed,
    received,
    requested,
    sent,
    snapshot,
)

from chime_api.entrypoints.cli import SERVICE_CLI
from chime_api.history.adapters.partitions import maintain
from chime_api.history.handlers import forget_chat
from chime_kit.unit_of_work import unit_of_work

pytestmark = pytest.mark.integration


def workload(chats: list[int], seed: int = 7) -> list:
    """Three days of conversations, shuffled within each chat's neighbourhood."""
    events = []
    for chat in chats:
        rng = random.Random(seed * 1000 + chat)
        for i in range(12):
            start = NOW - timedelta(days=2, hours=abs(chat) % 7)
            at = start + timedelta(hours=5 * i, seconds=rng.random())
            kind = "text" if i % 4 else "photo"
            text = f"word{i % 3} from {chat}"
            events.append(received(chat, 2 * i + 1, at, text=text, user=100 + i % 3, kind=kind))
            if i % 3 == 0:
                events.append(received(chat, 2 * i + 1, at, text=f"edited {i}",
                                       edited_at=at + timedelta(minutes=1)))  # fmt: skip
            delivery = f"r-{chat}-{i}"
            request = requested(chat, delivery, at + timedelta(seconds=1), text=f"answer {i}")
            outcome = (
                sent(chat, delivery, at + timedelta(seconds=1.4), 2 * i + 2)
                if i % 5
                else failed(chat, delivery, at + timedelta(seconds=2), "blocked" if i % 2 else "x")
            )
            # Half the outcomes come before their requests; some come twice.
            events += [outcome, request] if i % 2 else [request, outcome]
            if i % 7 == 0:
                events.append(outcome)
        events.append(blocked(chat, NOW - timedelta(hours=abs(chat) % 7)))
    events.append(batch(chats, "news-1", NOW - timedelta(hours=3), "news"))
    events += [sent(c, f"news-1:{c}", NOW - timedelta(hours=2), 900, "broadcast") for c in chats]
    return events


async def test_rebuild_gives_the_same_tables(database_url, history_db) -> None:
    await apply(history_db, *workload([1, 2, 3, -100200]))
    live = await snapshot(history_db)
    assert len(live["history_messages"]) > 90
    rebuilt = await SERVICE_CLI.rebuild(database_url)
    assert set(live) <= set(rebuilt.tables)
    assert await snapshot(history_db) == live


async def test_forgetting_a_chat_leaves_what_its_absence_would(database_url, history_db) -> None:
    await apply(history_db, *workload([1, 2, 3]))
    async with unit_of_work(history_db, "api") as uow:
        done = await forget_chat(uow, BOT, 2, "key_1")
    assert done.messages > 20
    after_forget = await snapshot(history_db)
    assert not [r for r in after_forget["history_messages"] if '"chat_id":2,' in r]
    assert not [r for r in after_forget["stats_rollups"] if f'"{BOT}:2"' in r]
    assert await history_db.fetchval("SELECT count(*) FROM history_log WHERE chat_id = 2") == 0
    recorded = await history_db.fetch(
        "SELECT type, envelope FROM events WHERE stream_id = $1", f"history-chat-{BOT}:2"
    )
    assert [r["type"] for r in recorded] == ["chat.history.forgotten.v1"]
    assert recorded[0]["envelope"]["data"]["api_key_id"] == "key_1"
    # The same as never having seen the chat, and as rebuilding without it.
    await SERVICE_CLI.rebuild(database_url)
    assert await snapshot(history_db) == after_forget


def without_news(chats: list[int]) -> list:
    return [e for e in workload(chats) if "news" not in e.data.model_dump_json()]


async def test_forgetting_equals_never_having_seen_the_chat(history_db) -> None:
    await apply(history_db, *without_news([1, 3]))
    without = await snapshot(history_db)
    async with history_db.acquire() as conn:
        for table in (
            "history_messages", "stats_rollups", "stats_members", "history_log",
            "history_deliveries",
        ):  # fmt: skip
            await conn.execute(f"DELETE FROM {table}")
    await apply(history_db, *without_news([1, 2, 3]))
    async with unit_of_work(history_db, "api") as uow:
        await forget_chat(uow, BOT, 2)
    # Row ids are log positions, which differ between the runs; everything else is equal.
    assert _without_ids(await snapshot(history_db)) == _without_ids(without)


def _without_ids(tables: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for name, rows in tables.items():
        parsed = [json.loads(r) for r in rows]
        for row in parsed:
            row.pop("id", None)
        out[name] = sorted(json.dumps(r, sort_keys=True) for r in parsed)
    return out


async def test_rebuild_after_a_retention_drop_gives_the_same_tables(
    database_url, history_db
) -> None:
    await apply(history_db, *workload([1, 2]))
    async with history_db.acquire() as conn:
        # Two days later with a retention of 30 days, the first day of the workload is gone.
        await maintain(conn, NOW + timedelta(days=29), 30, 7)
    live = await snapshot(history_db)
    await SERVICE_CLI.rebuild(database_url)
    assert await snapshot(history_db) == live

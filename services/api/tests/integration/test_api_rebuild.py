"""`python -m chime_api rebuild` re-derives the keys, notifications, chats and broadcast
recipients projections from the streams, row for row, after a realistic workload: keys
created, limited, rotated, revoked; notifications accepted through HTTP and settled by the
sender's outcomes, some racing; chats started, writing, blocking, choosing a language and a
time zone, each event twice; a broadcast's slices, the chats it skipped and its recipients'
outcomes."""

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from api_support import READ, WRITE, auth, from_sender
from test_api_chats import chat_events

from chime_api.domain.keys import Limits
from chime_api.entrypoints.cli import SERVICE_CLI, limit_key, revoke_key, rotate_key
from chime_api.history.adapters.projection import HistoryProjection
from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageSent,
    SendBatchRequested,
    SendFailed,
)
from chime_contracts.events.shared import SendSource
from chime_kit.testing import eventually, table_rows

pytestmark = pytest.mark.integration


def outcome(nid: str, n: int):
    source = SendSource(kind="notification", id=nid)
    now = datetime.now(UTC)
    common = {"delivery_id": f"api:{nid}", "bot_id": 7, "chat_id": n, "source": source}
    if n % 4 == 0:
        return MessageSent(**common, telegram_message_id=n, attempts=1, sent_at=now)
    return SendFailed(
        **common, reason="r", permanent=n % 4 == 1, attempts=1, failed_at=now,
        outcome_unknown=n % 4 == 2,
    )  # fmt: skip


async def test_rebuilt_projections_equal_the_live_ones(client, make_key, settings, tap, app):
    keys = [await make_key(WRITE, READ, name=f"k{n}") for n in range(3)]
    pool = app.state.service.runtime.pool
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM api_keys ORDER BY created_at")]
    await limit_key(settings, ids[0], Limits(500.5, 700))
    assert await rotate_key(settings, ids[1]) is not None
    assert await revoke_key(settings, ids[2])

    async def notify(n: int) -> str:
        response = await client.post(
            "/v1/notifications", json={"chat_id": n, "text": f"m{n}"}, headers=auth(keys[n % 2])
        )
        assert response.status_code == 202
        return str(response.json()["id"])

    nids = await asyncio.gather(*(notify(n) for n in range(24)))
    # Each outcome twice, and a late contrary one, as redeliveries and races bring them.
    for n, nid in enumerate(nids[:20]):
        for _ in range(2):
            await tap.publish(from_sender(outcome(nid, n)))
        await tap.publish(from_sender(outcome(nid, n + 1)))

    async def settled() -> bool:
        pending = await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE status = 'accepted' AND id = ANY($1)",
            nids[:20],
        )
        return bool(pending == 0)

    await eventually(settled, within=15.0)
    broadcaster = await make_key("broadcast", name="b")
    broadcast = await client.post(
        "/v1/broadcasts", json={"topic": "t", "message": {"text": "b"}}, headers=auth(broadcaster)
    )
    bid = broadcast.json()["id"]
    source = SendSource(kind="broadcast", id=bid)
    for n in range(2):
        batch = SendBatchRequested(
            batch_id=f"{bid}:{n}", bot_id=7, chat_ids=[n * 10 + c for c in range(10)],
            text="b", source=source,
        )  # fmt: skip
        await tap.publish(envelope_of(batch, producer="scheduler"))
    for n, reason in enumerate(("blocked", "stopped")):
        skipped = BroadcastRecipientsSkipped(
            slice_id=f"{bid}:skipped:{n}", broadcast_id=bid, bot_id=7, reason=reason,
            chat_ids=[20 + n * 2, 21 + n * 2], skipped_at=datetime.now(UTC),
        )  # fmt: skip
        for _ in range(2):
            await tap.publish(envelope_of(skipped, producer="scheduler"))
    for chat in range(0, 20, 3):
        result = outcome(bid, chat)
        update = {"delivery_id": f"{bid}:{chat}", "source": source}
        if chat % 4 == 1:
            update["error_code"] = 403  # the chat blocked the bot
        result = type(result).model_validate(result.model_dump() | update)
        for _ in range(2):
            await tap.publish(from_sender(result))
    for envelope in chat_events(500):
        for _ in range(2):  # a redelivery is another message of the same event
            await tap.publish(envelope.model_copy(update={"id": envelope.id + "x"}))
            await tap.publish(envelope)

    async def arrived() -> bool:
        chats = await pool.fetchval("SELECT count(*) FROM chats")
        outcomes = await pool.fetchval(
            "SELECT count(*) FROM broadcast_recipients WHERE status <> 'pending'"
        )
        recipients = await pool.fetchval("SELECT count(*) FROM broadcast_recipients")
        return (chats, outcomes, recipients) == (4, 11, 24)

    await eventually(arrived, within=15.0)
    await asyncio.sleep(0.5)  # the late duplicates have landed (or been dropped)

    live_keys = await table_rows(pool, "api_keys")
    live = await table_rows(pool, "notifications")
    live_chats = await table_rows(pool, "chats")
    live_listing = await table_rows(pool, "chat_listing")
    assert len(live_listing) == 3  # four bot chats, one of them seen by two bots
    live_recipients = await table_rows(pool, "broadcast_recipients")
    assert {r["status"] for r in await pool.fetch("SELECT status FROM broadcast_recipients")} == {
        "pending", "sent", "failed", "blocked", "skipped",
    }  # fmt: skip
    assert len(live_keys) == 5  # four made, one successor
    statuses = {r["status"] for r in await pool.fetch("SELECT status FROM notifications")}
    assert statuses == {"accepted", "sent", "failed", "unknown"}

    dsn = settings.database_url.get_secret_value()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "chime_api", "rebuild"],
        env={"CHIME_API_DATABASE_URL": dsn, "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert await table_rows(pool, "api_keys") == live_keys
    assert await table_rows(pool, "notifications") == live
    assert await table_rows(pool, "chats") == live_chats
    assert await table_rows(pool, "chat_listing") == live_listing
    assert await table_rows(pool, "broadcast_recipients") == live_recipients
    rebuilt = await SERVICE_CLI.rebuild(dsn)
    assert rebuilt.tables == (
        "api_keys",
        "notifications",
        "schedules",
        "broadcasts",
        "subscriptions",
        "chats",
        "chat_listing",
        "broadcast_recipients",
        "webhooks",
        *HistoryProjection.tables,
    )
    assert await table_rows(pool, "notifications") == live

"""/v1/chats and /v1/broadcasts/{id}/recipients on the running api: ingest's, the
scheduler's and the sender's events published on the broker reach the read models through
the api's own consumers; listings page and filter; another team's broadcast is not found."""

from datetime import UTC, datetime, timedelta

import pytest
from api_support import READ, auth

from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    ChatBlocked,
    ChatMemberChanged,
    LanguageSet,
    MessageReceived,
    MessageSent,
    SendBatchRequested,
    SendFailed,
    TimeZoneSet,
    UserStarted,
)
from chime_contracts.events.shared import SendSource
from chime_kit.testing import eventually

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def chat_events(base: int) -> list:
    """Three chats of bot 7 (one of them also of bot 8), one blocked, one in English."""
    a, b, c = base, base + 1, base + 2
    events = [
        UserStarted(bot_id=7, chat_id=a, user_id=a, username="olena", language_code="uk"),
        TimeZoneSet(bot_id=7, chat_id=a, user_id=a, time_zone="Europe/Kyiv"),
        MessageReceived(
            bot_id=7, update_id=1, update_kind="message", chat_id=b, chat_type="private",
            message_id=1, user_id=b, content_type="text", sent_at=T0,
        ),
        ChatBlocked(bot_id=7, chat_id=b, detected_by="send_forbidden", blocked_at=T0 + DAY),
        LanguageSet(bot_id=8, chat_id=c, language="en", chosen_by="command"),
        ChatMemberChanged(
            bot_id=7, chat_id=c, chat_type="group", old_state="left", new_state="member",
            changed_at=T0,
        ),
    ]  # fmt: skip
    return [
        envelope_of(e, producer="sender" if isinstance(e, ChatBlocked) else "ingest")
        for e in events
    ]


async def test_chats_are_listed_filtered_and_got(client, make_key, tap, app):
    key = await make_key(READ, team="ops")
    base = 900_000
    for envelope in chat_events(base):
        await tap.publish(envelope)
    pool = app.state.service.runtime.pool

    async def arrived() -> bool:
        return await pool.fetchval("SELECT count(*) FROM chats WHERE chat_id >= $1", base) == 4

    await eventually(arrived, within=15.0)

    async def ids(**params) -> list[int]:
        response = await client.get("/v1/chats", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        return [c["chat_id"] for c in response.json()["items"]]

    assert set(await ids()) == {base, base + 1, base + 2}
    assert await ids(blocked="true") == [base + 1]
    assert await ids(bot_id=8) == [base + 2]
    assert await ids(language="en") == [base + 2]
    assert sorted(await ids(blocked="false", bot_id=7)) == [base, base + 2]
    first = await client.get("/v1/chats", params={"limit": 2}, headers=auth(key))
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    rest = await client.get("/v1/chats", params={"limit": 2, "cursor": cursor}, headers=auth(key))
    seen = [c["chat_id"] for c in first.json()["items"] + rest.json()["items"]]
    assert sorted(seen) == [base, base + 1, base + 2]

    got = await client.get(f"/v1/chats/{base}", headers=auth(key))
    assert got.status_code == 200
    chat = got.json()
    assert (chat["assigned_bot_id"], chat["language"], chat["time_zone"]) == (
        7, "uk", "Europe/Kyiv",
    )  # fmt: skip
    assert chat["blocked"] is False
    assert chat["bots"][0]["username"] == "olena"
    assert chat["bots"][0]["started_at"] is not None
    group = (await client.get(f"/v1/chats/{base + 2}", headers=auth(key))).json()
    assert [b["bot_id"] for b in group["bots"]] == [7, 8]
    assert group["language"] == "en"
    assert (await client.get("/v1/chats/5", headers=auth(key))).status_code == 404
    forged = await client.get("/v1/chats", params={"cursor": "AAAA"}, headers=auth(key))
    assert forged.status_code == 422
    writer = await make_key("notify")
    assert (await client.get("/v1/chats", headers=auth(writer))).status_code == 403


async def test_each_recipient_of_a_broadcast_has_its_status(client, make_key, tap, app):
    key = await make_key("broadcast", READ, team="news")
    stranger = await make_key(READ, team="other")
    created = await client.post(
        "/v1/broadcasts", json={"topic": "news", "message": {"text": "hi"}}, headers=auth(key)
    )
    assert created.status_code == 202
    bid = created.json()["id"]
    source = SendSource(kind="broadcast", id=bid)
    batch = SendBatchRequested(
        batch_id=f"{bid}:0", bot_id=7, chat_ids=[1, 2, 3, 4], text="hi", source=source
    )
    await tap.publish(envelope_of(batch, producer="scheduler"))
    left_out = BroadcastRecipientsSkipped(
        slice_id=f"{bid}:skipped:0", broadcast_id=bid, bot_id=7, reason="stopped",
        chat_ids=[5], skipped_at=T0,
    )  # fmt: skip
    await tap.publish(envelope_of(left_out, producer="scheduler"))
    common = {"bot_id": 7, "attempts": 1, "source": source}
    outcomes = [
        MessageSent(delivery_id="d1", chat_id=1, telegram_message_id=5, sent_at=T0, **common),
        SendFailed(
            delivery_id="d2", chat_id=2, reason="chat blocked the bot", error_code=403,
            description="Forbidden: bot was blocked by the user", permanent=True, failed_at=T0,
            **common,
        ),
        SendFailed(
            delivery_id="d3", chat_id=3, reason="gave up after 5 attempts", permanent=False,
            failed_at=T0, **common,
        ),
    ]  # fmt: skip
    for outcome in outcomes:
        await tap.publish(envelope_of(outcome, producer="sender"))
    pool = app.state.service.runtime.pool

    async def settled() -> bool:
        return (
            await pool.fetchval(
                "SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1"
                " AND status <> 'pending'",
                bid,
            )
            == 4
            and await pool.fetchval(
                "SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1", bid
            )
            == 5
        )

    await eventually(settled, within=15.0)
    path = f"/v1/broadcasts/{bid}/recipients"
    everyone = (await client.get(path, headers=auth(key))).json()["items"]
    statuses = {r["chat_id"]: r["status"] for r in everyone}
    assert statuses == {1: "sent", 2: "blocked", 3: "failed", 4: "pending", 5: "skipped"}
    skipped = (await client.get(path, params={"status": "skipped"}, headers=auth(key))).json()
    assert [(r["chat_id"], r["reason"]) for r in skipped["items"]] == [(5, "stopped")]
    blocked = (await client.get(path, params={"status": "blocked"}, headers=auth(key))).json()
    assert [r["chat_id"] for r in blocked["items"]] == [2]
    assert blocked["items"][0]["reason"].startswith("chat blocked the bot")
    assert blocked["items"][0]["error_code"] == 403
    page = (await client.get(path, params={"limit": 3}, headers=auth(key))).json()
    assert len(page["items"]) == 3
    rest = await client.get(
        path, params={"limit": 3, "cursor": page["next_cursor"]}, headers=auth(key)
    )
    assert len(rest.json()["items"]) == 2
    assert rest.json()["next_cursor"] is None
    assert (await client.get(path, headers=auth(stranger))).status_code == 404
    bad = await client.get(path, params={"status": "lost"}, headers=auth(key))
    assert bad.status_code == 422

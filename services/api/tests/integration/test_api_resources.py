"""Schedules, broadcasts, topics and subscriptions, notifications to users and topics and at
a time, edits and deletions of sent messages: each request reaches the bus as the agreed
event, the read side follows, another team sees none of it, and a rebuild changes nothing."""

from datetime import UTC, datetime

import orjson
import pytest
from api_support import auth, from_sender

from chime_api.entrypoints.cli import SERVICE_CLI
from chime_contracts.events import MessageSent
from chime_contracts.events.shared import SendSource
from chime_kit.testing import event_tap, eventually, table_rows

pytestmark = pytest.mark.integration

SCHEDULE = {
    "chat_id": 42,
    "spec": {"kind": "cron", "expression": "30 8 * * 1-5"},
    "time_zone": "Europe/Berlin",
    "message": {"text": "Stand-up"},
}


async def bus(tap, count):
    return [orjson.loads(m.body) for m in await tap.take(count)]


async def test_schedules_from_request_to_cancel(client, make_key, amqp_url):
    key = await make_key("schedule", "read", team="a")
    stranger = await make_key("schedule", "read", team="b")
    async with event_tap(amqp_url, "schedule.#") as tap:
        made = await client.post("/v1/schedules", json=SCHEDULE, headers=auth(key))
        assert made.status_code == 202
        sid = made.json()["id"]
        assert made.headers["location"] == f"/v1/schedules/{sid}"
        [requested] = await bus(tap, 1)
        assert requested["type"] == "schedule.requested.v1"
        assert requested["data"]["owner"]["kind"] == "api_key"
        assert requested["data"]["spec"] == {"kind": "cron", "expression": "30 8 * * 1-5"}

        for action, status in [("pause", "paused"), ("pause", "paused"), ("resume", "active")]:
            answer = await client.post(f"/v1/schedules/{sid}/{action}", headers=auth(key))
            assert answer.json()["status"] == status
        patched = await client.patch(
            f"/v1/schedules/{sid}", json={"time_zone": "Asia/Tokyo"}, headers=auth(key)
        )
        assert patched.json()["time_zone"] == "Asia/Tokyo"
        assert (await client.delete(f"/v1/schedules/{sid}", headers=auth(key))).status_code == 204
        assert (await client.delete(f"/v1/schedules/{sid}", headers=auth(key))).status_code == 204
        changes = await bus(tap, 4)  # pause, resume, update, cancel: the second pause was none
        assert [c["data"]["action"] for c in changes] == ["pause", "resume", "update", "cancel"]
    closed = await client.post(f"/v1/schedules/{sid}/resume", headers=auth(key))
    assert closed.status_code == 409
    assert closed.json()["type"] == "/problems/cancelled"

    listed = (await client.get("/v1/schedules", headers=auth(key))).json()["items"]
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["status"] == "cancelled"
    assert (await client.get("/v1/schedules", headers=auth(stranger))).json()["items"] == []
    assert (await client.get(f"/v1/schedules/{sid}", headers=auth(stranger))).status_code == 404
    answer = await client.post(f"/v1/schedules/{sid}/pause", headers=auth(stranger))
    assert answer.status_code == 404
    bad = await client.post(
        "/v1/schedules", json={**SCHEDULE, "time_zone": "Mars/Olympus"}, headers=auth(key)
    )
    assert bad.status_code == 422


async def test_broadcasts_topics_and_subscriptions(client, make_key, amqp_url):
    key = await make_key("broadcast", "topics", "read", team="a")
    async with event_tap(amqp_url, "broadcast.#", "subscription.#") as tap:
        for chat in (1, 2):
            subscribed = await client.post(
                "/v1/topics/outages/subscriptions", json={"chat_id": chat}, headers=auth(key)
            )
            assert subscribed.status_code == 202
        gone = await client.delete("/v1/topics/outages/subscriptions/2", headers=auth(key))
        assert gone.status_code == 204
        made = await client.post(
            "/v1/broadcasts",
            json={"topic": "outages", "message": {"text": "EU degraded"}},
            headers=auth(key),
        )
        bid = made.json()["id"]
        cancelled = await client.post(f"/v1/broadcasts/{bid}/cancel", headers=auth(key))
        assert cancelled.json()["status"] == "cancelled"
        events = await bus(tap, 5)
    assert [e["type"] for e in events] == [
        "subscription.requested.v1", "subscription.requested.v1", "subscription.requested.v1",
        "broadcast.requested.v1", "broadcast.cancel.requested.v1",
    ]  # fmt: skip
    assert [e["data"]["action"] for e in events[:3]] == ["subscribe", "subscribe", "unsubscribe"]
    topics = (await client.get("/v1/topics", headers=auth(key))).json()["items"]
    assert topics == [{"topic": "outages", "subscribers": 1}]
    subscribers = await client.get("/v1/topics/outages/subscriptions", headers=auth(key))
    assert [s["chat_id"] for s in subscribers.json()["items"]] == [1]
    listed = await client.get("/v1/broadcasts", params={"topic": "outages"}, headers=auth(key))
    assert [b["id"] for b in listed.json()["items"]] == [bid]


async def test_notifications_to_users_topics_and_later(client, make_key, amqp_url):
    notifier = await make_key("notify", "read", team="n")
    everything = await make_key("notify", "schedule", "broadcast", "read", team="n")
    later = "2031-01-02T03:04:05Z"
    assert (
        await client.post(
            "/v1/notifications", json={"topic": "t", "text": "x"}, headers=auth(notifier)
        )
    ).status_code == 403
    async with event_tap(amqp_url, "send.requested.v1", "schedule.#", "broadcast.#") as tap:
        to_user = await client.post(
            "/v1/notifications",
            json={
                "user_id": 77, "text": "Hi {name}", "variables": {"name": "<Ann>"},
                "buttons": [[{"text": "Open", "url": "https://example.com"}]],
                "media": {"kind": "photo", "file": "https://example.com/a.png"},
            },
            headers=auth(notifier),
        )  # fmt: skip
        assert to_user.status_code == 202
        at = await client.post("/v1/notifications", json={"chat_id": 5, "text": "x", "at": later},
                               headers=auth(everything))  # fmt: skip
        assert at.headers["location"].startswith("/v1/schedules/sch_")
        topic = await client.post("/v1/notifications", json={"topic": "t", "text": "y"},
                                  headers=auth(everything))  # fmt: skip
        assert topic.headers["location"].startswith("/v1/broadcasts/brd_")
        send, schedule, broadcast = await bus(tap, 3)
    assert send["data"]["chat_id"] == 77
    assert send["data"]["variables"] == {"name": "<Ann>"}
    assert send["data"]["media"]["kind"] == "photo"
    assert send["data"]["buttons"][0][0]["url"] == "https://example.com"
    assert schedule["data"]["spec"]["kind"] == "once"
    assert datetime.fromisoformat(schedule["data"]["spec"]["at"]) == datetime(
        2031, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert broadcast["data"]["topic"] == "t"


async def test_a_sent_message_is_edited_then_deleted(client, make_key, amqp_url, tap, app):
    key = await make_key("notify", "read", team="e")
    stranger = await make_key("notify", "read", team="f")
    nid = (
        await client.post("/v1/notifications", json={"chat_id": 9, "text": "v1"}, headers=auth(key))
    ).json()["id"]
    early = await client.post(f"/v1/notifications/{nid}/edit", json={"text": "v2"},
                              headers=auth(key))  # fmt: skip
    assert early.status_code == 409
    assert early.json()["type"] == "/problems/message-not-editable"
    await tap.publish(
        from_sender(
            MessageSent(
                delivery_id=f"api:{nid}", bot_id=7, chat_id=9, telegram_message_id=5, attempts=1,
                sent_at=datetime.now(UTC), source=SendSource(kind="notification", id=nid),
            )
        )
    )  # fmt: skip

    async def sent() -> bool:
        got = await client.get(f"/v1/notifications/{nid}", headers=auth(key))
        return bool(got.json()["status"] == "sent")

    await eventually(sent, within=10)
    assert (
        await client.post(f"/v1/notifications/{nid}/edit", json={"text": "x"},
                          headers=auth(stranger))
    ).status_code == 404  # fmt: skip
    async with event_tap(amqp_url, "message.#") as edits:
        edited = await client.post(f"/v1/notifications/{nid}/edit", json={"text": "v2"},
                                   headers=auth(key))  # fmt: skip
        assert edited.status_code == 202
        assert edited.json()["edited_at"] is not None
        deleted = await client.delete(f"/v1/notifications/{nid}/message", headers=auth(key))
        assert deleted.json()["deleted_at"] is not None
        edit, delete = await bus(edits, 2)
    assert edit["type"] == "message.edit.requested.v1"
    assert edit["data"]["delivery_id"] == f"api:{nid}"
    assert edit["data"]["text"] == "v2"
    assert delete["type"] == "message.delete.requested.v1"
    again = await client.delete(f"/v1/notifications/{nid}/message", headers=auth(key))
    assert again.status_code == 409

    pool = app.state.service.runtime.pool
    live = await table_rows(pool, "notifications")
    await SERVICE_CLI.rebuild(app.state.service.settings.database_url.get_secret_value())
    assert await table_rows(pool, "notifications") == live


async def test_requests_rebuild_to_the_same_tables(client, make_key, app):
    key = await make_key("schedule", "broadcast", "topics", "read", team="r")
    sid = (await client.post("/v1/schedules", json=SCHEDULE, headers=auth(key))).json()["id"]
    await client.post(f"/v1/schedules/{sid}/pause", headers=auth(key))
    await client.patch(f"/v1/schedules/{sid}", json={"message": {"text": "new"}},
                       headers=auth(key))  # fmt: skip
    bid = (await client.post("/v1/broadcasts", json={"topic": "x", "message": {"text": "m"}},
                             headers=auth(key))).json()["id"]  # fmt: skip
    await client.post(f"/v1/broadcasts/{bid}/cancel", headers=auth(key))
    await client.post("/v1/topics/x/subscriptions", json={"chat_id": 3}, headers=auth(key))
    pool = app.state.service.runtime.pool
    tables = ("schedules", "broadcasts", "subscriptions")
    live = [await table_rows(pool, t) for t in tables]
    assert all(live)
    await SERVICE_CLI.rebuild(app.state.service.settings.database_url.get_secret_value())
    assert [await table_rows(pool, t) for t in tables] == live

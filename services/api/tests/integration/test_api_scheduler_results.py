"""The scheduler's results about the api's own schedules and broadcasts update the read side
(number, next fire, rejections, progress and ETA); others' are not kept. Specs are checked
and previewed with the shared schedules library."""

from datetime import UTC, datetime, timedelta

import pytest
from api_support import auth

from chime_api.entrypoints.cli import SERVICE_CLI
from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastStarted,
    ScheduleCreated,
    ScheduleFired,
    ScheduleRejected,
)
from chime_contracts.events.schedules import CronSpec, MessageTemplate, ScheduleOwner
from chime_kit.testing import eventually, table_rows

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
CRON = {"kind": "cron", "expression": "0 9 * * *"}


def scheduler(event):
    return envelope_of(event, producer="scheduler")


def created(sid: str, owner: str):
    return ScheduleCreated(
        schedule_id=sid, number=12, owner=ScheduleOwner(kind="api_key", id=owner), bot_id=7,
        chat_id=1, spec=CronSpec(expression="0 9 * * *"), time_zone="UTC",
        message=MessageTemplate(text="x"), misfire="fire_late", misfire_grace_seconds=300,
        jitter_seconds=0, next_at=NOW + timedelta(hours=1), fire_at=NOW + timedelta(hours=1),
    )  # fmt: skip


async def test_results_of_our_requests_are_projected(client, make_key, tap, app):
    key = await make_key("schedule", "broadcast", "read", team="s")
    body = {"chat_id": 1, "spec": CRON, "time_zone": "UTC", "message": {"text": "x"}}
    sid = (await client.post("/v1/schedules", json=body, headers=auth(key))).json()["id"]
    refused = (await client.post("/v1/schedules", json=body, headers=auth(key))).json()["id"]
    bid = (await client.post("/v1/broadcasts", json={"topic": "t", "message": {"text": "m"}},
                             headers=auth(key))).json()["id"]  # fmt: skip
    pool = app.state.service.runtime.pool
    key_id = await pool.fetchval("SELECT api_key_id FROM schedules WHERE id = $1", sid)
    for event in [
        created(sid, key_id),
        created("sch_not_ours", "chat"),
        ScheduleFired(schedule_id=sid, occurrence=NOW, fired_at=NOW, delivery_id="d",
                      next_at=NOW + timedelta(days=1), fire_at=None),
        ScheduleRejected(request_id=refused, schedule_ref=refused,
                         owner=ScheduleOwner(kind="api_key", id=key_id), action="create",
                         reason="no such chat"),
        BroadcastStarted(broadcast_id=bid, owner=ScheduleOwner(kind="api_key", id=key_id),
                         bot_id=7, topic="t", recipients=100, skipped=2, slices=1,
                         started_at=NOW, estimated_finish_at=NOW + timedelta(seconds=4)),
        BroadcastProgressed(broadcast_id=bid, handed=98, sent=50, failed=1, skipped=2),
        BroadcastFinished(broadcast_id=bid, handed=98, sent=96, failed=2, skipped=2,
                          finished_at=NOW + timedelta(seconds=5)),
    ]:  # fmt: skip
        await tap.publish(scheduler(event))

    async def finished() -> bool:
        # Each result type has its own queue: wait for the slowest of them.
        got = await client.get(f"/v1/broadcasts/{bid}", headers=auth(key))
        ours = (await client.get(f"/v1/schedules/{sid}", headers=auth(key))).json()
        refusal = await client.get(f"/v1/schedules/{refused}", headers=auth(key))
        return (got.json()["status"], ours["number"], ours["fired"], refusal.json()["status"]) == (
            "finished", 12, 1, "rejected"
        )  # fmt: skip

    await eventually(finished, within=15)
    schedule = (await client.get(f"/v1/schedules/{sid}", headers=auth(key))).json()
    assert schedule["status"] == "active"
    assert schedule["number"] == 12
    assert schedule["fired"] == 1
    assert datetime.fromisoformat(schedule["next_at"]) == NOW + timedelta(days=1)
    rejected = (await client.get(f"/v1/schedules/{refused}", headers=auth(key))).json()
    assert (rejected["status"], rejected["reason"]) == ("rejected", "no such chat")
    broadcast = (await client.get(f"/v1/broadcasts/{bid}", headers=auth(key))).json()
    assert (broadcast["recipients"], broadcast["sent"], broadcast["failed"]) == (100, 96, 2)
    assert broadcast["estimated_finish_at"] is not None
    assert await pool.fetchval("SELECT count(*) FROM events WHERE stream_id LIKE '%not_ours'") == 0
    live = [await table_rows(pool, t) for t in ("schedules", "broadcasts")]
    await SERVICE_CLI.rebuild(app.state.service.settings.database_url.get_secret_value())
    assert [await table_rows(pool, t) for t in ("schedules", "broadcasts")] == live


async def test_specs_are_checked_and_previewed(client, make_key):
    key = await make_key("schedule", "read", team="p")
    bad = await client.post(
        "/v1/schedules",
        json={"chat_id": 1, "spec": {"kind": "cron", "expression": "61 * * * *"},
              "time_zone": "UTC", "message": {"text": "x"}},
        headers=auth(key),
    )  # fmt: skip
    assert bad.status_code == 422
    preview = await client.post(
        "/v1/schedule-previews",
        json={"spec": {"kind": "rrule", "rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"},
              "time_zone": "Europe/Kyiv", "count": 3},
        headers=auth(key),
    )  # fmt: skip
    assert preview.status_code == 200
    times = [datetime.fromisoformat(t) for t in preview.json()["occurrences"]]
    assert len(times) == 3
    assert all(t.hour == 9 and t.minute == 0 for t in times)
    assert preview.json()["next_line"].startswith("next:")
    body = {"chat_id": 1, "spec": CRON, "time_zone": "Asia/Tokyo", "message": {"text": "x"}}
    sid = (await client.post("/v1/schedules", json=body, headers=auth(key))).json()["id"]
    stored = await client.get(f"/v1/schedules/{sid}/preview?count=2", headers=auth(key))
    assert [datetime.fromisoformat(t).hour for t in stored.json()["occurrences"]] == [9, 9]

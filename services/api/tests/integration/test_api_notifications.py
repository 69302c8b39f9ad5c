"""POST /v1/notifications and its delivery status, through real PostgreSQL and RabbitMQ."""

import asyncio
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest
from api_support import READ, WRITE, auth, from_sender

from chime_contracts.events import MessageSent, SendFailed
from chime_contracts.events.shared import SendSource
from chime_kit.testing import eventually

pytestmark = pytest.mark.integration


async def test_a_notification_is_accepted_and_a_send_is_requested(
    client, make_key, tap, spans, settings
):
    key = await make_key(WRITE, READ)
    response = await client.post(
        "/v1/notifications",
        json={"chat_id": -100123, "text": "deploy done", "parse_mode": "HTML"},
        headers=auth(key),
    )
    assert response.status_code == 202
    body = response.json()
    nid = body["id"]
    assert nid.startswith("ntf_")
    assert body["status"] == "accepted"
    assert body["chat_id"] == -100123
    assert body["bot_id"] == 7  # the configured default
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert response.headers["location"] == f"/v1/notifications/{nid}"

    [message] = await tap.take(1)
    envelope = orjson.loads(message.body)
    assert message.routing_key == "send.requested.v1"
    assert envelope["type"] == "send.requested.v1"
    assert envelope["producer"] == "api"
    assert envelope["data"]["delivery_id"] == f"api:{nid}"
    assert envelope["data"]["origin"] == "api"
    assert envelope["data"]["source"] == {"kind": "notification", "id": nid}
    assert envelope["data"]["text"] == "deploy done"
    assert envelope["data"]["parse_mode"] == "HTML"
    assert envelope["data"]["bot_id"] == 7
    assert envelope["correlation_id"] == nid

    # The request's server span is the parent of the event.
    [request_span] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/notifications"]
    assert request_span.attributes["chime.service"] == "api"
    assert request_span.attributes["http.response.status_code"] == 202
    _, trace_id, parent_id, _ = envelope["traceparent"].split("-")
    assert trace_id == f"{request_span.context.trace_id:032x}"
    assert parent_id == f"{request_span.context.span_id:016x}"

    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        types = await conn.fetch(
            "SELECT type FROM api.events WHERE stream_id = $1", f"notification-{nid}"
        )
        assert [r["type"] for r in types] == ["notification.requested.v1"]
    finally:
        await conn.close()


async def test_a_caller_trace_is_continued(client, make_key, tap):
    key = await make_key(WRITE)
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await client.post(
        "/v1/notifications",
        json={"chat_id": 1, "text": "x"},
        headers={**auth(key), "traceparent": caller},
    )
    assert response.status_code == 202
    [message] = await tap.take(1)
    assert orjson.loads(message.body)["traceparent"].split("-")[1] == caller.split("-")[1]


async def test_a_retry_with_the_same_idempotency_key_replays_the_response(
    client, make_key, tap, settings
):
    key = await make_key(WRITE, READ)
    headers = {**auth(key), "Idempotency-Key": "order-1234"}
    first = await client.post(
        "/v1/notifications", json={"chat_id": 5, "text": "a"}, headers=headers
    )
    assert first.status_code == 202
    assert "idempotent-replayed" not in first.headers
    # The same request, keys in another order.
    again = await client.post(
        "/v1/notifications",
        content=b'{"text": "a",   "chat_id": 5}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]

    other = await client.post(
        "/v1/notifications", json={"chat_id": 5, "text": "b"}, headers=headers
    )
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["title"] == "Idempotency-Key reused with a different request"

    # The same Idempotency-Key under another API key is another request.
    second_key = await make_key(WRITE)
    elsewhere = await client.post(
        "/v1/notifications",
        json={"chat_id": 5, "text": "a"},
        headers={**auth(second_key), "Idempotency-Key": "order-1234"},
    )
    assert elsewhere.status_code == 202
    assert elsewhere.json()["id"] != first.json()["id"]

    sent = await tap.take(2)
    assert len({orjson.loads(m.body)["data"]["delivery_id"] for m in sent}) == 2
    await asyncio.sleep(0.3)
    assert await count_notifications(settings) == 2


async def test_concurrent_duplicates_make_one_notification(client, make_key, settings):
    key = await make_key(WRITE)
    headers = {**auth(key), "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(
            client.post("/v1/notifications", json={"chat_id": 9, "text": "once"}, headers=headers)
            for _ in range(8)
        )
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 7
    assert await count_notifications(settings) == 1


async def test_an_invalid_idempotency_key_is_refused(client, make_key):
    key = await make_key(WRITE)
    response = await client.post(
        "/v1/notifications",
        json={"chat_id": 9, "text": "x"},
        headers={**auth(key), "Idempotency-Key": "x" * 256},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "header.Idempotency-Key"


async def test_the_status_follows_the_sender(client, make_key, tap):
    key = await make_key(WRITE, READ)
    ids = []
    for text in ("will be sent", "will fail"):
        response = await client.post(
            "/v1/notifications", json={"chat_id": 77, "text": text}, headers=auth(key)
        )
        ids.append(response.json()["id"])
    sent_id, failed_id = ids
    status = await client.get(f"/v1/notifications/{sent_id}", headers=auth(key))
    assert status.json()["status"] == "accepted"

    now = datetime.now(UTC)
    await tap.publish(
        from_sender(
            MessageSent(
                delivery_id="reminder:rem_1",
                bot_id=7,
                chat_id=77,
                telegram_message_id=1,
                attempts=1,
                sent_at=now,
            )
        )
    )
    await tap.publish(
        from_sender(
            MessageSent(
                delivery_id=f"api:{sent_id}",
                source=SendSource(kind="notification", id=sent_id),
                bot_id=7,
                chat_id=77,
                telegram_message_id=555,
                attempts=1,
                sent_at=now,
            )
        )
    )
    await tap.publish(
        from_sender(
            SendFailed(
                delivery_id=f"api:{failed_id}",
                source=SendSource(kind="notification", id=failed_id),
                bot_id=7,
                chat_id=77,
                reason="chat_not_found",
                error_code=400,
                description="Bad Request: chat not found",
                permanent=True,
                attempts=1,
                failed_at=now,
            )
        )
    )
    # A late failure report does not undo a delivery.
    await tap.publish(
        from_sender(
            SendFailed(
                delivery_id=f"api:{sent_id}",
                source=SendSource(kind="notification", id=sent_id),
                bot_id=7,
                chat_id=77,
                reason="timeout",
                permanent=False,
                attempts=2,
                failed_at=now,
            )
        )
    )

    async def settled() -> bool:
        a = (await client.get(f"/v1/notifications/{sent_id}", headers=auth(key))).json()
        b = (await client.get(f"/v1/notifications/{failed_id}", headers=auth(key))).json()
        return a["status"] == "sent" and b["status"] == "failed"

    await eventually(settled, within=10.0)
    await asyncio.sleep(0.3)
    sent = (await client.get(f"/v1/notifications/{sent_id}", headers=auth(key))).json()
    assert sent["status"] == "sent"
    assert sent["telegram_message_id"] == 555
    assert datetime.fromisoformat(sent["sent_at"]) == now
    assert sent["failure"] is None
    failed = (await client.get(f"/v1/notifications/{failed_id}", headers=auth(key))).json()
    assert failed["failure"] == {
        "reason": "chat_not_found",
        "error_code": 400,
        "description": "Bad Request: chat not found",
        "permanent": True,
    }
    assert failed["sent_at"] is None


async def test_an_unknown_outcome_is_its_own_status_with_the_reason(client, make_key, tap):
    key = await make_key(WRITE, READ)
    nid = (
        await client.post(
            "/v1/notifications", json={"chat_id": 78, "text": "maybe"}, headers=auth(key)
        )
    ).json()["id"]
    await tap.publish(
        from_sender(
            SendFailed(
                delivery_id=f"api:{nid}",
                source=SendSource(kind="notification", id=nid),
                bot_id=7,
                chat_id=78,
                reason="outcome unknown after crash",
                permanent=True,
                attempts=1,
                failed_at=datetime.now(UTC),
                outcome_unknown=True,
            )
        )
    )

    async def unknown() -> dict:
        body = (await client.get(f"/v1/notifications/{nid}", headers=auth(key))).json()
        return body if body["status"] != "accepted" else {}

    body = await eventually(unknown, within=10.0)
    assert body["status"] == "unknown"
    assert body["failure"]["reason"] == "outcome unknown after crash"
    spec = (await client.get("/openapi.json")).json()
    status = spec["components"]["schemas"]["NotificationOut"]["properties"]["status"]
    assert "unknown" in str(spec["components"]["schemas"])
    assert "unknown" in status["description"]


async def test_only_the_key_that_asked_sees_a_notification(client, make_key):
    owner = await make_key(WRITE, READ)
    stranger = await make_key(WRITE, READ)
    nid = (
        await client.post(
            "/v1/notifications", json={"chat_id": 1, "text": "x"}, headers=auth(owner)
        )
    ).json()["id"]
    assert (await client.get(f"/v1/notifications/{nid}", headers=auth(owner))).status_code == 200
    hidden = await client.get(f"/v1/notifications/{nid}", headers=auth(stranger))
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    listing = await client.get("/v1/notifications", headers=auth(stranger))
    assert listing.json() == {"items": [], "next_cursor": None}


async def test_listing_pages_newest_first(client, make_key):
    key = await make_key(WRITE, READ)
    made = []
    for i in range(5):
        response = await client.post(
            "/v1/notifications", json={"chat_id": i, "text": f"n{i}"}, headers=auth(key)
        )
        made.append(response.json()["id"])

    seen, pages, cursor = [], 0, None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/notifications", params=params, headers=auth(key))).json()
        pages += 1
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))

    everything = (await client.get("/v1/notifications", headers=auth(key))).json()
    assert [i["id"] for i in everything["items"]] == list(reversed(made))
    assert everything["next_cursor"] is None


async def count_notifications(settings) -> int:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return await conn.fetchval("SELECT count(*) FROM api.notifications")
    finally:
        await conn.close()

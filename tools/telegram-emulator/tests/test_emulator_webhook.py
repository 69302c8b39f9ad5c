import json

import pytest
from emulator_harness import BOT_ID, WEBHOOK_URL, Harness, MakeHarness

pytestmark = pytest.mark.unit


async def test_webhook_delivery_with_secret_header(harness: Harness) -> None:
    await harness.ok("setWebhook", url=WEBHOOK_URL, secret_token="s3cret_-X")
    answer = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "hi", "wait": True}
    )
    assert answer == {
        "update_id": answer["update_id"],
        "delivery": "webhook",
        "status": 200,
        "error": None,
    }
    [received] = harness.webhook.received
    assert received.path == "/telegram/webhook"
    assert received.headers["x-telegram-bot-api-secret-token"] == "s3cret_-X"
    assert received.headers["content-type"] == "application/json"
    update = json.loads(received.body)
    assert update["update_id"] == answer["update_id"]
    assert update["message"]["text"] == "hi"
    info = await harness.ok("getWebhookInfo")
    assert info["url"] == WEBHOOK_URL
    assert info["pending_update_count"] == 0
    assert info["max_connections"] == 40
    assert "last_error_date" not in info


async def test_no_secret_header_without_secret(harness: Harness) -> None:
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "hi", "wait": True}
    )
    assert "x-telegram-bot-api-secret-token" not in harness.webhook.received[0].headers


async def test_webhook_retries_server_errors_then_succeeds(harness: Harness) -> None:
    harness.webhook.scripted_statuses.extend([500, 503])
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    answer = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "hi", "wait": True}
    )
    assert answer["status"] == 200
    assert len(harness.webhook.received) == 3
    info = await harness.ok("getWebhookInfo")
    assert isinstance(info["last_error_date"], int)
    assert info["last_error_message"] == "Wrong response from the webhook: 503 Service Unavailable"


async def test_webhook_client_error_is_not_retried(harness: Harness) -> None:
    harness.webhook.scripted_statuses.append(400)
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    first = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "bad", "wait": True}
    )
    second = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "good", "wait": True}
    )
    assert first["status"] == 400
    assert second["status"] == 200
    texts = [json.loads(r.body)["message"]["text"] for r in harness.webhook.received]
    assert texts == ["bad", "good"]
    stats = (await harness.client.get("/_emulator/stats")).json()
    assert stats["webhook_deliveries_ok"] == 1
    assert stats["webhook_deliveries_failed"] == 1


async def test_an_update_is_kept_while_the_receiver_is_down_and_later_ones_wait_behind_it(
    make_harness: MakeHarness,
) -> None:
    """As Telegram: no attempt limit by default, the delay grows up to its cap, nothing is
    dropped and the bot's later updates stay queued behind the undelivered one."""
    harness = await make_harness(
        webhook_max_attempts=None, webhook_backoff_s=0.001, webhook_max_backoff_s=0.01
    )
    harness.webhook.scripted_statuses.extend([502] * 12)  # far past the old 5 attempts
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "first"})
    answer = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "second", "wait": True}
    )
    assert answer["status"] == 200
    texts = [json.loads(r.body)["message"]["text"] for r in harness.webhook.received]
    assert texts == ["first"] * 13 + ["second"]
    stats = (await harness.client.get("/_emulator/stats")).json()
    assert stats["webhook_deliveries_failed"] == 0


async def test_webhook_gives_up_after_max_attempts(harness: Harness) -> None:
    harness.webhook.scripted_statuses.extend([502] * 3)
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    answer = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "x", "wait": True}
    )
    assert answer["status"] == 502
    assert len(harness.webhook.received) == 3
    assert (await harness.ok("getWebhookInfo"))["pending_update_count"] == 0


async def test_deliveries_keep_order_without_waiting(harness: Harness) -> None:
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    for n in range(5):
        answer = await harness.control(
            "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": f"{n}"}
        )
        assert answer["delivery"] == "webhook"
        assert "status" not in answer
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "5", "wait": True})
    texts = [json.loads(r.body)["message"]["text"] for r in harness.webhook.received]
    assert texts == ["0", "1", "2", "3", "4", "5"]


async def test_raw_update_is_delivered_as_is(harness: Harness) -> None:
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    raw = {"update_id": 77, "message": {"text": "no chat, no date"}}
    answer = await harness.control("/updates", {"bot_id": BOT_ID, "update": raw, "wait": True})
    assert answer["update_id"] == 77
    assert json.loads(harness.webhook.received[0].body) == raw


async def test_raw_update_gets_an_update_id_when_missing(harness: Harness) -> None:
    answer = await harness.control("/updates", {"bot_id": BOT_ID, "update": {"poll": {}}})
    [update] = await harness.ok("getUpdates")
    assert update == {"update_id": answer["update_id"], "poll": {}}


async def test_updates_queued_before_the_webhook_are_delivered_to_it(harness: Harness) -> None:
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "early"})
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "late", "wait": True}
    )
    texts = [json.loads(r.body)["message"]["text"] for r in harness.webhook.received]
    assert texts == ["early", "late"]


async def test_drop_pending_updates(harness: Harness) -> None:
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "old"})
    await harness.ok("setWebhook", url=WEBHOOK_URL, drop_pending_updates=True)
    await harness.ok("deleteWebhook")
    assert await harness.ok("getUpdates") == []

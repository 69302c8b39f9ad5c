import asyncio
import json
from typing import Any

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


async def test_webhook_client_errors_are_retried_too(harness: Harness) -> None:
    """As Telegram: any answer but 2xx is retried, a 4xx as much as a 5xx."""
    harness.webhook.scripted_statuses.extend([400, 404])
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    first = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "bad", "wait": True}
    )
    assert first["status"] == 200
    texts = [json.loads(r.body)["message"]["text"] for r in harness.webhook.received]
    assert texts == ["bad", "bad", "bad"]
    stats = (await harness.client.get("/_emulator/stats")).json()
    assert stats["webhook_deliveries_ok"] == 1
    assert stats["webhook_deliveries_failed"] == 0
    assert stats["webhook_attempts_failed"] == 2
    info = await harness.ok("getWebhookInfo")
    assert info["last_error_message"] == "Wrong response from the webhook: 404 Not Found"


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


def texts_of(harness: Harness) -> list[str]:
    return [json.loads(r.body)["message"]["text"] for r in harness.webhook.received]


async def send(harness: Harness, chat_id: int, text: str, wait: bool = False) -> Any:
    return await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": chat_id, "text": text, "wait": wait}
    )


async def settle(harness: Harness, count: int) -> None:
    for _ in range(200):
        if len(harness.webhook.received) >= count:
            return
        await asyncio.sleep(0.005)


async def pending_drained(harness: Harness) -> None:
    for _ in range(200):
        if (await harness.ok("getWebhookInfo"))["pending_update_count"] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("updates stayed pending")


async def test_up_to_max_connections_at_once_one_per_chat(harness: Harness) -> None:
    harness.webhook.release = asyncio.Event()
    await harness.ok("setWebhook", url=WEBHOOK_URL, max_connections=3)
    for chat_id in (1, 2, 3, 4, 5):
        await send(harness, chat_id, f"{chat_id}a")
    await send(harness, 1, "1b")
    await settle(harness, 3)
    await asyncio.sleep(0.02)
    assert harness.webhook.in_flight == 3
    assert sorted(texts_of(harness)) == ["1a", "2a", "3a"]
    assert (await harness.ok("getWebhookInfo"))["pending_update_count"] == 6
    harness.webhook.release.set()
    await settle(harness, 6)
    texts = texts_of(harness)
    assert sorted(texts) == ["1a", "1b", "2a", "3a", "4a", "5a"]
    assert texts.index("1a") < texts.index("1b")  # one chat keeps its order
    assert harness.webhook.max_in_flight == 3


async def test_a_failing_chat_does_not_hold_up_the_others(make_harness: MakeHarness) -> None:
    harness = await make_harness(webhook_max_attempts=None, webhook_backoff_s=0.01)
    down = True
    harness.webhook.status_for = lambda body: 500 if down and b"stuck" in body else 200
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    await send(harness, 1, "stuck")
    await send(harness, 1, "behind")
    other = await send(harness, 2, "other", wait=True)
    assert other["status"] == 200
    await settle(harness, 4)
    assert "behind" not in texts_of(harness)  # still waits behind its chat's first
    down = False
    last = await send(harness, 1, "last", wait=True)
    assert last["status"] == 200
    texts = [text for text in texts_of(harness) if text != "other"]
    assert texts[-3:] == ["stuck", "behind", "last"]
    assert set(texts[:-3]) == {"stuck"}


async def test_undelivered_updates_stay_pending_with_the_error(make_harness: MakeHarness) -> None:
    harness = await make_harness(webhook_max_attempts=None, webhook_backoff_s=0.01)
    harness.webhook.scripted_statuses.extend([503] * 30)
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    for chat_id in (1, 2):
        await send(harness, chat_id, "x")
    await settle(harness, 4)
    info = await harness.ok("getWebhookInfo")
    assert info["pending_update_count"] == 2
    assert info["last_error_message"] == "Wrong response from the webhook: 503 Service Unavailable"
    assert isinstance(info["last_error_date"], int)
    harness.webhook.scripted_statuses.clear()
    await send(harness, 3, "y", wait=True)
    await pending_drained(harness)


async def test_changing_allowed_updates_leaves_queued_updates_alone(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(webhook_max_attempts=None, webhook_backoff_s=0.05)
    harness.webhook.scripted_statuses.extend([502])
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    queued = await send(harness, 1, "queued")
    await harness.ok("setWebhook", url=WEBHOOK_URL, allowed_updates=["callback_query"])
    assert (await send(harness, 1, "new"))["delivery"] == "filtered"
    await settle(harness, 2)
    delivered = [json.loads(r.body)["update_id"] for r in harness.webhook.received]
    assert delivered == [queued["update_id"]] * 2
    await pending_drained(harness)
    info = await harness.ok("getWebhookInfo")
    assert info["allowed_updates"] == ["callback_query"]


async def test_deleting_the_webhook_keeps_the_undelivered_update_for_polling(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(webhook_max_attempts=None, webhook_backoff_s=0.01)
    harness.webhook.status_for = lambda body: 502
    await harness.ok("setWebhook", url=WEBHOOK_URL)
    sent = await send(harness, 1, "kept")
    await settle(harness, 2)
    await harness.ok("deleteWebhook")
    [update] = await harness.ok("getUpdates")
    assert update["update_id"] == sent["update_id"]
    attempts = len(harness.webhook.received)
    await asyncio.sleep(0.05)
    assert len(harness.webhook.received) == attempts  # nothing delivers any more

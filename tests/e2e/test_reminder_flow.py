"""A user sets a reminder through the emulator; it comes back on time, in one trace."""

import asyncio
import io
import logging
from datetime import UTC, datetime

import pytest

from chime_api_client import ChimeClient
from chime_api_client.models import NotificationAccepted, NotificationIn
from chime_kit.telemetry import JsonFormatter
from chime_kit.testing import eventually

from .conftest import BOT_ID, TOKEN

pytestmark = pytest.mark.e2e

USER_ID = 424242


@pytest.fixture
def all_logs():
    """Every log record of every library at DEBUG, formatted as the services format them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("e2e"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_reminder_is_delivered_on_time_in_one_trace(platform, spans, all_logs):
    info = (await platform.telegram.get(f"/bot{TOKEN}/getWebhookInfo")).json()["result"]
    assert info["url"] == f"{platform.ingest_url}/telegram/{BOT_ID}/webhook"

    async def texts_with(needle: str):
        texts = [m["text"] for m in await platform.sent(USER_ID)]
        return texts if any(needle in t for t in texts) else None

    await platform.user_says(USER_ID, "/start")
    await eventually(lambda: texts_with("I'm Chime"))
    asked_at = datetime.now(UTC)
    await platform.user_says(USER_ID, "/remind in 2s hello")
    await eventually(lambda: texts_with("I'll remind you"))
    texts = await eventually(lambda: texts_with("⏰ hello"), within=10)

    fired = next(m for m in await platform.sent(USER_ID) if m["text"] == "⏰ hello")
    lateness = fired["sent_at"] - asked_at.timestamp() - 2
    assert -0.1 < lateness < 1.5, f"fired {lateness:.3f}s off schedule"
    assert texts.count("⏰ hello") == 1
    stats = (await platform.telegram.get("/_emulator/stats")).json()
    assert stats["rejected_429"] == 0

    # The request's trace spans ingest (webhook) and the scheduler; the firing starts a
    # trace of its own through the sender (Telegram call), linked to the request's.
    finished = spans.get_finished_spans()
    fire = next(s for s in finished if s.name == "fire reminder")
    assert fire.parent is None
    (link,) = fire.links
    requested = [s for s in finished if s.context.trace_id == link.context.trace_id]
    fired = [s for s in finished if s.context.trace_id == fire.context.trace_id]
    assert {"ingest", "scheduler"} <= {s.attributes.get("chime.service") for s in requested}
    assert {"scheduler", "sender"} <= {s.attributes.get("chime.service") for s in fired}
    webhook = [s for s in requested if s.name == "POST /telegram/{bot_id}/webhook"]
    assert len(webhook) == 1
    assert webhook[0].attributes.get("chime.service") == "ingest"
    assert sum(s.name == "telegram sendMessage" for s in requested) == 1  # confirmation
    assert sum(s.name == "telegram sendMessage" for s in fired) == 1  # the reminder

    # The bot token appears in no span and no log line, though httpx logged every URL.
    for span in finished:
        assert TOKEN not in span.name
        leaks = {k: v for k, v in (span.attributes or {}).items() if TOKEN in str(v)}
        assert not leaks, span.name
    logged = all_logs.getvalue()
    assert "sendMessage" in logged
    assert TOKEN not in logged


async def test_an_api_notification_reaches_the_chat_and_reports_sent(platform, spans):
    """Through the typed client generated from the api's OpenAPI document."""
    await platform.telegram.post("/_emulator/chats", json={"type": "private", "id": 5151})
    key = platform.api.headers["Authorization"].removeprefix("Bearer ")
    async with ChimeClient(str(platform.api.base_url), key) as chime:
        notification = await chime.create_notification(
            NotificationIn(chat_id=5151, text="Deploy finished"), idempotency_key="deploy-42"
        )
        assert isinstance(notification, NotificationAccepted)

        async def delivered():
            return [m for m in await platform.sent(5151) if m["text"] == "Deploy finished"]

        await eventually(delivered)

        async def status():
            body = await chime.get_notification(notification.id)
            return body if body.status.value != "accepted" else None

        final = await eventually(status)
    assert final.status.value == "sent"
    assert final.telegram_message_id == (await delivered())[0]["message_id"]

    finished = spans.get_finished_spans()
    call = next(s for s in finished if s.name == "telegram sendMessage")
    services = {
        s.attributes.get("chime.service")
        for s in finished
        if s.context.trace_id == call.context.trace_id
    }
    assert {"api", "sender"} <= services


async def test_an_api_notification_to_an_unknown_chat_reports_why_it_failed(platform):
    response = await platform.api.post("/v1/notifications", json={"chat_id": 6161, "text": "x"})
    assert response.status_code == 202

    async def status():
        body = (await platform.api.get(f"/v1/notifications/{response.json()['id']}")).json()
        return body if body["status"] != "accepted" else None

    final = await eventually(status)
    assert final["status"] == "failed"
    assert final["failure"]["error_code"] == 400
    assert "chat not found" in final["failure"]["description"]
    assert final["failure"]["permanent"] is True


async def test_reminders_survive_a_scheduler_and_sender_restart_and_fire_once(platform):
    chat = 777
    await platform.user_says(chat, "/remind in 3s stretch")

    async def confirmed():
        return any("I'll remind you" in m["text"] for m in await platform.sent(chat))

    await eventually(confirmed)
    # Both go down while the reminder waits, as in a crash or a rolling upgrade...
    await platform.services["scheduler"].stop()
    await platform.services["sender"].stop()
    await asyncio.sleep(3.5)
    # ...and come back after it was due: it fires late, once.
    await platform.services["scheduler"].start()
    await platform.services["sender"].start()

    async def reminded():
        texts = [m["text"] for m in await platform.sent(chat)]
        return texts if "⏰ stretch" in texts else None

    texts = await eventually(reminded)
    await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
    texts = [m["text"] for m in await platform.sent(chat)]
    assert texts.count("⏰ stretch") == 1

"""The generated client against the running api: typed requests, typed answers, problems
as ChimeError with their stable type."""

import httpx
import pytest

from chime_api.entrypoints.cli import create_key
from chime_api_client import ChimeClient, ChimeError
from chime_api_client.models import (
    BroadcastIn,
    MessageTemplate,
    NotificationAccepted,
    NotificationIn,
    ScheduleIn,
)

pytestmark = pytest.mark.integration


async def test_the_client_sends_follows_and_reports_problems(client, settings):
    _, key = await create_key(settings, "client", ["notify", "schedule", "broadcast", "read"],
                              team="cl")  # fmt: skip
    transport = client._transport  # the running app, in process
    async with ChimeClient("http://api", key, transport=transport) as chime:
        accepted = await chime.create_notification(
            NotificationIn(chat_id=42, text="Deploy finished"), idempotency_key="deploy-1"
        )
        assert isinstance(accepted, NotificationAccepted)
        again = await chime.create_notification(
            NotificationIn(chat_id=42, text="Deploy finished"), idempotency_key="deploy-1"
        )
        assert again.id == accepted.id
        status = await chime.get_notification(accepted.id)
        assert status.status.value == "accepted"
        page = await chime.list_notifications(limit=10)
        assert [n.id for n in page.items] == [accepted.id]
        schedule = await chime.create_schedule(
            ScheduleIn.model_validate(
                {"chat_id": 1, "spec": {"kind": "cron", "expression": "0 9 * * 1-5"},
                 "time_zone": "Europe/Berlin", "message": {"text": "stand-up"}}
            )
        )  # fmt: skip
        paused = await chime.pause_schedule(schedule.id)
        assert paused.status.value == "paused"
        broadcast = await chime.create_broadcast(
            BroadcastIn(topic="outages", message=MessageTemplate(text="EU degraded"))
        )
        assert (await chime.cancel_broadcast(broadcast.id)).status.value == "cancelled"
        recipients = await chime.list_recipients(broadcast.id, status="pending", limit=5)
        assert (recipients.items, recipients.next_cursor) == ([], None)
        chats = await chime.list_chats(blocked=True, bot_id=7, language="uk")
        assert (chats.items, chats.next_cursor) == ([], None)
        with pytest.raises(ChimeError) as no_chat:
            await chime.get_chat(42)
        assert no_chat.value.status == 404
        with pytest.raises(ChimeError) as missing:
            await chime.get_notification("ntf_nope")
        assert (missing.value.status, missing.value.type) == (404, "/problems/not-found")
    async with ChimeClient("http://api", "chime_wrong", transport=transport) as stranger:
        with pytest.raises(ChimeError) as denied:
            await stranger.list_notifications()
        assert denied.value.type == "/problems/unauthorized"
    assert isinstance(transport, httpx.AsyncBaseTransport)

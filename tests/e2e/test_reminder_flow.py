"""A user sets a reminder through the emulator; it comes back on time, in one trace."""

from datetime import UTC, datetime

import httpx
import pytest

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.entrypoints.app import create_app as create_ingest
from chime_ingest.settings import IngestSettings
from chime_kit.testing import eventually, free_port, serving
from chime_scheduler.entrypoints.app import create_app as create_scheduler
from chime_scheduler.settings import SchedulerSettings
from chime_sender.entrypoints.app import create_app as create_sender
from chime_sender.settings import SenderSettings

pytestmark = pytest.mark.e2e

TOKEN = "7000001:AAE2eTestTokenForChimeEndToEndFlow01"
BOT_ID = 7000001
USER_ID = 424242


async def test_reminder_is_delivered_on_time_in_one_trace(database_url, amqp_url, spans):
    common = {"database_url": database_url, "amqp_url": amqp_url, "log_json": False}
    ingest_port = free_port()
    async with serving(create_emulator(EmulatorConfig(bot_tokens=(TOKEN,)))) as telegram:
        ingest = create_ingest(
            IngestSettings(
                **common,
                bot_tokens=[TOKEN],
                public_url=f"http://127.0.0.1:{ingest_port}",
                telegram_api_base=telegram,
                webhook_secret_key="e2e-secret",
            )
        )
        scheduler = create_scheduler(SchedulerSettings(**common))
        sender = create_sender(
            SenderSettings(**common, bot_tokens=[TOKEN], telegram_api_base=telegram)
        )
        async with (
            serving(ingest, ingest_port),
            serving(scheduler),
            serving(sender),
            httpx.AsyncClient(base_url=telegram) as control,
        ):
            info = (await control.get(f"/bot{TOKEN}/getWebhookInfo")).json()["result"]
            assert info["url"] == f"http://127.0.0.1:{ingest_port}/telegram/{BOT_ID}/webhook"

            async def say(text: str) -> None:
                reply = await control.post(
                    "/_emulator/messages",
                    json={"bot_id": BOT_ID, "chat_id": USER_ID, "text": text, "wait": True},
                )
                assert reply.json()["status"] == 200

            async def sent_texts() -> list[str]:
                body = (
                    await control.get(f"/_emulator/bots/{BOT_ID}/sent", params={"chat_id": USER_ID})
                ).json()
                return [m["text"] for m in body["messages"]]

            await say("/start")
            await eventually(lambda: _has(sent_texts, "I'm Chime"))
            asked_at = datetime.now(UTC)
            await say("/remind in 2s hello")
            await eventually(lambda: _has(sent_texts, "I'll remind you"))
            texts = await eventually(lambda: _has(sent_texts, "⏰ hello"), within=10)

            messages = (
                await control.get(f"/_emulator/bots/{BOT_ID}/sent", params={"chat_id": USER_ID})
            ).json()["messages"]
            fired = next(m for m in messages if m["text"] == "⏰ hello")
            lateness = fired["sent_at"] - asked_at.timestamp() - 2
            assert -0.1 < lateness < 1.5, f"fired {lateness:.3f}s off schedule"
            assert sum(t == "⏰ hello" for t in texts) == 1

            stats = (await control.get("/_emulator/stats")).json()
            assert stats["rejected_429"] == 0

    # One trace id spans ingest (webhook), scheduler (firing) and sender (Telegram call).
    finished = spans.get_finished_spans()
    fire = next(s for s in finished if s.name == "fire reminder")
    trace_id = fire.context.trace_id
    services_in_trace = {
        s.attributes.get("chime.service") for s in finished if s.context.trace_id == trace_id
    }
    assert {"ingest", "scheduler", "sender"} <= services_in_trace
    webhook_spans = [
        s for s in finished if s.name == "telegram webhook" and s.context.trace_id == trace_id
    ]
    assert len(webhook_spans) == 1
    telegram_calls = [
        s for s in finished if s.name == "telegram sendMessage" and s.context.trace_id == trace_id
    ]
    assert telegram_calls, "the delivery of the reminder belongs to the request's trace"


async def _has(fetch, needle: str) -> list[str] | None:
    texts = await fetch()
    return texts if any(needle in t for t in texts) else None

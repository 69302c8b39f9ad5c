"""A pressed button through the whole of ingest and the emulator: polled, stored, interpreted
from the bus, and answered with answerCallbackQuery as soon as that commits."""

import httpx
import pytest

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.entrypoints.app import create_app
from chime_ingest.settings import IngestSettings
from chime_kit.testing import event_tap, eventually, serving

pytestmark = pytest.mark.integration

TOKEN = "5550003:AAIngestCallbackTestTokenXXXXXXXXXXX"
BOT_ID = 5550003


def press(update_id: int, data: str) -> dict:
    reminder = {
        "message_id": 5, "date": 1_764_000_000, "chat": {"id": 77, "type": "private"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Chime"}, "text": "⏰ tea",
    }  # fmt: skip
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}", "chat_instance": "c", "data": data, "message": reminder,
            "from": {"id": 77, "is_bot": False, "first_name": "Ann", "language_code": "uk"},
        },
    }  # fmt: skip


async def test_a_snooze_button_is_answered_snoozed_and_its_message_edited(database_url, amqp_url):
    emulator = create_emulator(EmulatorConfig(bot_tokens=(TOKEN,)))
    async with serving(emulator) as telegram, httpx.AsyncClient(base_url=telegram) as control:
        settings = IngestSettings(
            database_url=database_url, amqp_url=amqp_url, bot_tokens=[TOKEN], mode="polling",
            telegram_api_base=telegram, polling_timeout_seconds=1,
        )  # fmt: skip
        app = create_app(settings)
        keys = ("snooze.requested.v1", "message.edit.requested.v1")
        async with event_tap(amqp_url, *keys) as tap, serving(app):
            pool = app.state.service.runtime.pool
            for update_id, data in ((1, "snooze:15m"), (2, "forged")):
                update = {"bot_id": BOT_ID, "update": press(update_id, data)}
                await control.post("/_emulator/updates", json=update)

            async def answered():
                stats = (await control.get("/_emulator/stats")).json()
                return stats["requests_per_method"].get("answerCallbackQuery") == 2 or None

            await eventually(answered)
            assert await pool.fetchval("SELECT count(*) FROM callback_answers") == 0
            [snooze] = await tap.envelopes_of("snooze.requested.v1")
            assert (snooze["data"]["text"], snooze["data"]["language"]) == ("⏰ tea", "uk")
            [edit] = await tap.envelopes_of("message.edit.requested.v1")
            assert edit["data"]["text"].startswith("⏰ tea\n\n💤 Відкладено до ")
            assert edit["data"]["buttons"] == []

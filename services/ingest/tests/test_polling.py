"""Long polling: ingest reads getUpdates from the emulator, stores each update once."""

import httpx
import pytest

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.entrypoints.app import create_app
from chime_ingest.settings import IngestSettings
from chime_kit.testing import eventually, serving

pytestmark = pytest.mark.integration

TOKEN = "5550002:AAIngestPollingTestTokenXXXXXXXXXXXX"
BOT_ID = 5550002


async def test_polling_stores_updates_and_confirms_them(database_url, amqp_url):
    emulator = create_emulator(EmulatorConfig(bot_tokens=(TOKEN,)))
    async with serving(emulator) as telegram, httpx.AsyncClient(base_url=telegram) as control:
        # A webhook left over from webhook mode: polling mode removes it first.
        await control.post(f"/bot{TOKEN}/setWebhook", json={"url": "http://127.0.0.1:9/x"})
        for n in range(3):
            await control.post(
                "/_emulator/messages",
                json={"bot_id": BOT_ID, "chat_id": 77, "text": f"note {n}"},
            )
        settings = IngestSettings(
            database_url=database_url,
            amqp_url=amqp_url,
            bot_tokens=[TOKEN],
            mode="polling",
            telegram_api_base=telegram,
            polling_timeout_seconds=1,
        )
        app = create_app(settings)
        async with serving(app):
            pool = app.state.service.runtime.pool

            async def stored():
                return await pool.fetchval("SELECT count(*) FROM updates") == 3 or None

            await eventually(stored)
            await control.post(
                "/_emulator/messages", json={"bot_id": BOT_ID, "chat_id": 77, "text": "late"}
            )

            async def four():
                return await pool.fetchval("SELECT count(*) FROM updates") == 4 or None

            await eventually(four)
            info = (await control.get(f"/bot{TOKEN}/getWebhookInfo")).json()["result"]
            assert info["url"] == ""

            async def confirmed():
                # getUpdates with offset confirmed every stored update.
                info = (await control.get(f"/bot{TOKEN}/getWebhookInfo")).json()["result"]
                return info["pending_update_count"] == 0 or None

            await eventually(confirmed)


async def test_in_polling_mode_the_webhook_refuses_every_post(database_url, amqp_url):
    emulator = create_emulator(EmulatorConfig(bot_tokens=(TOKEN,)))
    async with serving(emulator) as telegram:
        settings = IngestSettings(
            database_url=database_url,
            amqp_url=amqp_url,
            bot_tokens=[TOKEN],
            mode="polling",
            telegram_api_base=telegram,
            polling_timeout_seconds=1,
        )
        async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as c:
            forged = await c.post(
                f"/telegram/{BOT_ID}/webhook",
                json={"update_id": 1, "message": {}},
                headers={"X-Telegram-Bot-Api-Secret-Token": ""},
            )
            assert forged.status_code == 404

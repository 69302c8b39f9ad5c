"""Long polling: ingest reads getUpdates from the emulator, stores each update once."""

import httpx
import pytest

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.entrypoints.app import create_app
from chime_ingest.settings import IngestSettings
from chime_kit.testing import eventually, serving

pytestmark = pytest.mark.integration


def polling(database_url, amqp_url, telegram):
    return IngestSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        bot_tokens=[TOKEN],
        mode="polling",
        telegram_api_base=telegram,
        polling_timeout_seconds=1,
    )


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
        settings = polling(database_url, amqp_url, telegram)
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
        settings = polling(database_url, amqp_url, telegram)
        async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as c:
            forged = await c.post(
                f"/telegram/{BOT_ID}/webhook",
                json={"update_id": 1, "message": {}},
                headers={"X-Telegram-Bot-Api-Secret-Token": ""},
            )
            assert forged.status_code == 404


async def test_polling_screens_updates_as_the_webhook_does(database_url, amqp_url):
    emulator = create_emulator(EmulatorConfig(bot_tokens=(TOKEN,)))
    async with serving(emulator) as telegram, httpx.AsyncClient(base_url=telegram) as control:

        async def inject(update):
            await control.post("/_emulator/updates", json={"bot_id": BOT_ID, "update": update})

        def text_update(update_id, text, chat_id=77):
            chat = {"id": chat_id, "type": "private"}
            message = {"message_id": 1, "date": 1, "chat": chat, "text": text}
            return {"update_id": update_id, "message": message}

        deep: object = 1
        for _ in range(60):
            deep = [deep]
        await inject(text_update(101, "nul\u0000here"))
        await inject(text_update(102, "far", chat_id=2**63))
        await inject({**text_update(103, "deep"), "x": deep})
        await inject(text_update(104, "wide", chat_id=2**70))
        await inject(text_update(105, "after"))
        settings = polling(database_url, amqp_url, telegram)
        app = create_app(settings)
        async with serving(app):
            pool = app.state.service.runtime.pool

            async def stored():
                return await pool.fetchval("SELECT count(*) FROM updates WHERE update_id = 105")

            await eventually(stored)
            rows = await pool.fetch("SELECT update_id, status, reason, payload FROM updates")
            by_id = {r["update_id"]: r for r in rows}
            assert by_id[101]["status"] == "accepted"
            assert by_id[101]["payload"]["message"]["text"] == "nul\ufffdhere"
            assert by_id[102]["status"] == "rejected"
            assert "message.chat.id" in by_id[102]["reason"]
            # The Bot API client reads JSON as the webhook does (orjson): an integer wider
            # than 64 bits arrives as a float, outside a chat id's range, so kept rejected.
            assert by_id[104]["status"] == "rejected"
            assert "message.chat.id" in by_id[104]["reason"]
            assert set(by_id) == {101, 102, 104, 105}
            reasons = await pool.fetch("SELECT reason FROM rejected_bodies ORDER BY id")
            assert [r["reason"] for r in reasons] == ["nested deeper than 32 levels"]

            async def confirmed():
                info = (await control.get(f"/bot{TOKEN}/getWebhookInfo")).json()["result"]
                return info["pending_update_count"] == 0 or None

            await eventually(confirmed)

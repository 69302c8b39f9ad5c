"""Each bot's username learned from `getMe` at start-up, against the emulator's Bot API: a
group's `/cmd@another_bot` is ignored before any `my_chat_member` update was seen, and a
failing `getMe` only leaves the username to be learned later."""

import logging

import pytest
from ingest_harness import caused, message, receipts

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.adapters.telegram import TelegramBotApi
from chime_ingest.bootstrap import learn_bot_usernames
from chime_ingest.entrypoints.interpreter import Interpreter
from chime_ingest.entrypoints.service import create_service
from chime_ingest.settings import IngestSettings
from chime_kit.telegram import BotApi
from chime_kit.testing import eventually, free_port, serving

pytestmark = pytest.mark.integration

TOKEN = "5550041:AAIngestGetMeTestTokenXXXXXXXXXXXXXX"
UNKNOWN = "5550042:AAIngestGetMeTestTokenYYYYYYYYYYYYYY"
BOT, OTHER = 5550041, 5550042
USERNAME = f"bot{BOT}_bot"  # as the emulator names its bots


def in_group(update_id: int, text: str) -> dict:
    body = message(update_id, -100, text)
    body["message"]["chat"] = {"id": -100, "type": "group", "title": "Team"}
    return body


async def username(runtime, bot_id: int) -> str | None:
    async with runtime.pool.acquire() as conn:
        return await PostgresChats(conn).bot_username(bot_id)


async def test_a_command_to_another_bot_is_ignored_before_any_my_chat_member(runtime, intake):
    emulator = create_emulator(EmulatorConfig(bot_tokens=(TOKEN,)))
    async with serving(emulator) as base:
        telegram = TelegramBotApi(BotApi(base))
        try:
            await learn_bot_usernames(runtime, telegram, {BOT: TOKEN})
        finally:
            await telegram.aclose()
    assert await username(runtime, BOT) == USERNAME

    for body in (in_group(1, "/help@other_bot"), in_group(2, f"/help@{USERNAME}")):
        assert await intake.receive(BOT, body) == "accepted"
    event_of = await receipts(runtime)
    interpreter = Interpreter(runtime, "UTC")
    interpreter.start()
    try:

        async def drained():
            return await runtime.pool.fetchval("SELECT count(*) = 0 FROM update_queue")

        await eventually(drained)
    finally:
        await interpreter.stop()
    emitted = await caused(runtime)
    assert "send.requested.v1" not in emitted[event_of[1]]  # another bot's: not answered
    assert "send.requested.v1" in emitted[event_of[2]]  # its own: answered


@pytest.mark.parametrize("reachable", [True, False], ids=["unauthorized", "unreachable"])
async def test_a_failing_get_me_leaves_the_service_running(
    database_url, amqp_url, caplog, reachable
):
    caplog.set_level(logging.WARNING, logger="chime_ingest.bootstrap")
    emulator = create_emulator(EmulatorConfig(bot_tokens=(TOKEN,)))  # knows no UNKNOWN
    async with serving(emulator) as base:
        settings = IngestSettings(
            database_url=database_url,
            amqp_url=amqp_url,
            bot_tokens=[TOKEN, UNKNOWN],
            webhook_secret_key="k",
            telegram_api_base=base if reachable else f"http://127.0.0.1:{free_port()}",
        )
        ingest = await create_service(settings)
        await ingest.start()
        try:
            assert ingest.interpreter.loop.running
            assert await username(ingest.runtime, OTHER) is None
            assert await username(ingest.runtime, BOT) == (USERNAME if reachable else None)
        finally:
            await ingest.stop()
    warned = [r.getMessage() for r in caplog.records if "getMe failed" in r.getMessage()]
    assert any(f"bot {OTHER}" in w for w in warned)
    assert all(TOKEN not in w and UNKNOWN not in w for w in warned)
    if reachable:
        assert any("401" in w for w in warned)

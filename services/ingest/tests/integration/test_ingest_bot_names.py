"""Each bot's username learned from `getMe` at start-up, against the emulator's Bot API: a
group's `/cmd@another_bot` is ignored before any `my_chat_member` update was seen, and a
failing `getMe` only leaves the username to be learned later. Intake never waits for
`getMe`: updates are recorded from the start, and interpreted once the usernames are known."""

import json
import logging

import httpx
import pytest
from ingest_harness import caused, message, receipts

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.adapters.telegram import TelegramBotApi
from chime_ingest.bootstrap import learn_bot_usernames
from chime_ingest.domain.bots import webhook_secret
from chime_ingest.entrypoints.app import create_app
from chime_ingest.entrypoints.interpreter import Interpreter
from chime_ingest.entrypoints.service import create_service
from chime_ingest.settings import IngestSettings
from chime_kit.telegram import BotApi
from chime_kit.testing import event_tap, eventually, free_port, serving

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
            username_wait_seconds=600 if reachable else 0.5,  # unreachable: starts without
        )
        ingest = await create_service(settings)
        await ingest.start()
        try:

            async def interpreting() -> bool:
                return ingest.interpreter.loop.running

            await eventually(interpreting)

            def warned() -> list[str]:
                return [r.getMessage() for r in caplog.records if "getMe failed" in r.getMessage()]

            async def both_warned() -> bool:
                return all(any(f"bot {b}" in w for w in warned()) for b in (BOT, OTHER))

            if reachable:  # 401 for OTHER: not asked again, so nothing is left to wait for
                assert ingest.usernames is not None
                await ingest.usernames
            else:
                await eventually(both_warned)
            assert await username(ingest.runtime, OTHER) is None
            assert await username(ingest.runtime, BOT) == (USERNAME if reachable else None)
        finally:
            await ingest.stop()
    assert any(f"bot {OTHER}" in w for w in warned())
    assert all(TOKEN not in w and UNKNOWN not in w for w in warned())
    if reachable:
        assert any("401" in w for w in warned())


async def test_updates_are_recorded_at_once_and_interpreted_once_get_me_answers(
    database_url, amqp_url
):
    port = free_port()  # nothing listens there yet: Telegram is unreachable
    settings = IngestSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        bot_tokens=[TOKEN],
        webhook_secret_key="k",
        telegram_api_base=f"http://127.0.0.1:{port}",
        username_wait_seconds=600,  # the interpreter waits for the username, however long
    )
    headers = {"X-Telegram-Bot-Api-Secret-Token": webhook_secret("k", BOT)}
    app = create_app(settings)
    async with (
        event_tap(amqp_url, "send.requested.v1") as tap,
        serving(app) as url,  # started, though getMe has no answer
        httpx.AsyncClient(base_url=url) as client,
    ):
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        for body in (in_group(1, "/help@other_bot"), in_group(2, f"/help@{USERNAME}")):
            answer = await client.post(
                f"/telegram/{BOT}/webhook", content=json.dumps(body).encode(), headers=headers
            )
            assert answer.status_code == 200
        service = app.state.service
        event_of = await receipts(service.runtime)
        assert sorted(event_of) == [1, 2]  # recorded...
        assert await username(service.runtime, BOT) is None  # ...before getMe ever answered
        assert not service.interpreter.loop.running  # commands wait for the username

        async with serving(create_emulator(EmulatorConfig(bot_tokens=(TOKEN,))), port=port):

            async def settled() -> bool:
                return bool(
                    await service.runtime.pool.fetchval(
                        "SELECT (SELECT count(*) FROM update_queue)"
                        " + (SELECT count(*) FROM outbox) = 0"
                    )
                )

            await eventually(settled, within=120)  # getMe is asked again with backoff
            assert await username(service.runtime, BOT) == USERNAME
            [answered] = await tap.envelopes_of("send.requested.v1")
            assert await tap.message_count() == 0
    # The command named another bot is ignored; the one named this bot is answered.
    assert answered["causation_id"] == event_of[2]

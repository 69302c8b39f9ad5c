"""Bot pools through ingest's receive path, with the bots' usernames learned from the
emulator's `getMe`: a front /start is answered with a deep link to the least-loaded worker,
the worker's /start confirms, the assignment is sticky, spreads, and survives a restart."""

from __future__ import annotations

import io
import re
from typing import Any

import orjson
import pytest
from ingest_harness import message

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived
from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest import handlers
from chime_ingest.adapters.telegram import TelegramBotApi
from chime_ingest.bootstrap import learn_bot_usernames
from chime_ingest.domain.pools import Pool, Pools, decode_payload
from chime_ingest.entrypoints import cli
from chime_ingest.entrypoints.intake import Intake
from chime_ingest.entrypoints.interpreter import Interpreter
from chime_ingest.entrypoints.pools import pool_gauge
from chime_ingest.metrics import POOL_CHATS
from chime_ingest.settings import MIGRATIONS, SERVICE, IngestSettings
from chime_kit.runtime import Runtime, open_runtime
from chime_kit.telegram import BotApi
from chime_kit.testing import eventually, serving
from chime_kit.unit_of_work import unit_of_work

pytestmark = pytest.mark.integration

FRONT, W1, W2, W3 = 7770010, 7770011, 7770012, 7770013
BOTS = (FRONT, W1, W2, W3)
TOKENS = {bot: f"{bot}:AAIngestPoolsTestTokenXXXXXXXXXXXXXX" for bot in BOTS}
POOLS = Pools((Pool("main", FRONT, (W1, W2, W3)),))
LINK = re.compile(r"https://t\.me/(\w+)\?start=([A-Za-z0-9_-]+)")
_updates = iter(range(1, 10**6))


def username(bot: int) -> str:
    return f"bot{bot}_bot"  # as the emulator names its bots


def settings(database_url: str, amqp_url: str) -> IngestSettings:
    return IngestSettings(
        database_url=database_url, amqp_url=amqp_url, mode="polling",
        bot_tokens=list(TOKENS.values()),
        bot_pools={"main": {"front": FRONT, "workers": [W1, W2, W3]}},
    )  # type: ignore[arg-type]  # fmt: skip


async def learn(runtime: Runtime, tokens: dict[int, str] = TOKENS) -> None:
    emulator = create_emulator(EmulatorConfig(bot_tokens=tuple(tokens.values())))
    async with serving(emulator) as base:
        telegram = TelegramBotApi(BotApi(base))
        try:
            await learn_bot_usernames(runtime, telegram, tokens)
        finally:
            await telegram.aclose()


@pytest.fixture
async def pooled(runtime: Runtime) -> Runtime:
    await learn(runtime)
    return runtime


async def emitted(runtime: Runtime) -> list[dict[str, Any]]:
    """What interpreting emitted since the last call: each envelope's data with its type."""
    rows = await runtime.pool.fetch("DELETE FROM outbox RETURNING id, body")
    return [orjson.loads(r["body"])["data"] for r in sorted(rows, key=lambda r: r["id"])]


async def say(
    runtime: Runtime, bot: int, chat: int, text: str = "/start", kind: str = "private"
) -> list[dict[str, Any]]:
    body = message(next(_updates), chat, text)
    body["message"]["entities"] = [
        {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
    ]
    if kind != "private":
        body["message"]["chat"] = {"id": chat, "type": kind, "title": "Team"}
    received = envelope_of(
        UpdateReceived(bot_id=bot, update_id=body["update_id"], kind="message", update=body),
        producer="ingest",
    )
    async with unit_of_work(runtime.pool, "ingest", received) as uow:
        await handlers.interpret_update(uow, received, "UTC", POOLS)
    return await emitted(runtime)


def reply(events: list[dict[str, Any]]) -> dict[str, Any]:
    [sent] = [e for e in events if e["type"] == "send.requested.v1"]
    return sent


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]


async def loads(runtime: Runtime) -> dict[int, tuple[int, int]]:
    rows = await runtime.pool.fetch("SELECT bot_id, chats, confirmed FROM pool_loads")
    return {r["bot_id"]: (r["chats"], r["confirmed"]) for r in rows}


async def test_a_front_start_links_to_a_worker_whose_start_confirms(pooled):
    runtime = pooled
    intake = Intake(runtime, on_stored=lambda: None)
    interpreter = Interpreter(runtime, "UTC", pools=POOLS)
    intake.start()
    interpreter.start()
    try:
        chat = 501
        assert await intake.receive(FRONT, message(next(_updates), chat, "/start")) == "accepted"

        async def handled() -> list[dict[str, Any]] | None:
            if await runtime.pool.fetchval("SELECT count(*) FROM update_queue"):
                return None
            return await emitted(runtime)

        events = await eventually(handled)
    finally:
        await interpreter.stop()
        await intake.stop()
    answer = reply(events)
    assert answer["bot_id"] == FRONT  # the front answers its own /start
    assert answer["chat_id"] == chat
    [(worker_name, payload)] = LINK.findall(answer["text"])
    [assigned] = of_type(events, "chat.assigned.v1")
    worker = assigned["bot_id"]
    assert worker_name == username(worker)
    assert (assigned["pool"], assigned["chat_id"], assigned["started_bot_id"]) == (
        "main",
        chat,
        FRONT,
    )
    assert assigned["payload"] == payload
    assert decode_payload(payload) == ("main", chat)
    assert len(payload) <= 64

    # Sticky: the same worker however often the front is started.
    again = await say(runtime, FRONT, chat)
    assert LINK.findall(reply(again)["text"]) == [(worker_name, payload)]
    assert of_type(again, "chat.assigned.v1") == []

    # The worker's /start with the payload confirms, and the ordinary welcome follows.
    confirming = await say(runtime, worker, chat, f"/start {payload}")
    [confirmed] = of_type(confirming, "chat.assignment.confirmed.v1")
    assert (confirmed["bot_id"], confirmed["chat_id"]) == (worker, chat)
    [started] = of_type(confirming, "user.started.v1")
    assert started["payload"] == payload
    welcome = reply(confirming)
    assert welcome["bot_id"] == worker
    assert "I remind you of things on time" in welcome["text"]
    assert await loads(runtime) == {worker: (1, 1)}
    twice = await say(runtime, worker, chat, f"/start {payload}")
    assert of_type(twice, "chat.assignment.confirmed.v1") == []


async def test_a_hundred_new_users_spread_evenly_and_operators_see_it(
    pooled, database_url, amqp_url
):
    runtime = pooled
    for chat in range(1000, 1100):
        await say(runtime, FRONT, chat)
    counts = sorted(chats for chats, _ in (await loads(runtime)).values())
    assert counts == [33, 33, 34]

    out = io.StringIO()
    assert await cli.pools(settings(database_url, amqp_url), out) == 0
    printed = out.getvalue()
    assert "pool main (front bot 7770010): 100 chats" in printed
    for bot, (chats, _) in (await loads(runtime)).items():
        share = 100 * chats / 100
        assert f"bot {bot}: {chats} chats ({share:.1f}%), 0 started it" in printed

    gauge = pool_gauge(runtime, POOLS)
    gauge.start()
    try:

        async def shown() -> bool:
            return all(
                POOL_CHATS.labels("main", str(bot))._value.get() == chats
                for bot, (chats, _) in (await loads(runtime)).items()
            )

        await eventually(shown)
    finally:
        await gauge.stop()


async def test_a_worker_started_directly_keeps_the_chat_and_another_worker_points_to_it(pooled):
    runtime = pooled
    direct = await say(runtime, W3, 601)
    [assigned] = of_type(direct, "chat.assigned.v1")
    assert (assigned["bot_id"], assigned["started_bot_id"], assigned["payload"]) == (W3, W3, None)
    assert "I remind you of things on time" in reply(direct)["text"]
    assert await loads(runtime) == {W3: (1, 1)}

    # The front hands it the worker it started; another worker points it there.
    assert LINK.findall(reply(await say(runtime, FRONT, 601))["text"])[0][0] == username(W3)
    elsewhere = await say(runtime, W1, 601)
    assert of_type(elsewhere, "chat.assigned.v1") == []
    assert f"@{username(W3)}" in reply(elsewhere)["text"]
    assert reply(elsewhere)["bot_id"] == W1


async def test_a_group_start_on_the_front_is_welcomed_and_not_assigned(pooled):
    events = await say(pooled, FRONT, -4001, kind="group")
    assert of_type(events, "chat.assigned.v1") == []
    assert "I remind you of things on time" in reply(events)["text"]


async def test_workers_without_a_known_username_are_not_chosen(runtime):
    await learn(runtime, {bot: TOKENS[bot] for bot in (FRONT, W2)})
    for chat in range(700, 706):
        assert LINK.findall(reply(await say(runtime, FRONT, chat))["text"])[0][0] == username(W2)
    assert await loads(runtime) == {W2: (6, 0)}


async def test_no_worker_to_link_to_is_said_and_nothing_is_assigned(runtime):
    await learn(runtime, {FRONT: TOKENS[FRONT]})
    events = await say(runtime, FRONT, 801)
    assert of_type(events, "chat.assigned.v1") == []
    assert "No bot of mine can take you right now" in reply(events)["text"]


async def test_assignments_survive_a_restart(database_url, amqp_url):
    async def links(runtime: Runtime) -> dict[int, list[tuple[str, str]]]:
        return {c: LINK.findall(reply(await say(runtime, FRONT, c))["text"]) for c in CHATS}

    # Each a fresh ingest runtime on the same database, as a process (re)start opens it.
    first = await open_runtime(SERVICE, settings(database_url, amqp_url), MIGRATIONS)
    try:
        await learn(first)
        before = await links(first)
    finally:
        await first.pool.close()
    second = await open_runtime(SERVICE, settings(database_url, amqp_url), MIGRATIONS)
    try:
        assert await links(second) == before
        assert sorted(chats for chats, _ in (await loads(second)).values()) == [2, 2, 2]
    finally:
        await second.pool.close()


CHATS = range(900, 906)

"""What ingest makes of each command: domain events and friendly replies."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived
from chime_ingest import handlers
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations
from chime_kit.unit_of_work import unit_of_work

pytestmark = pytest.mark.integration

BOT = 42


@pytest.fixture
async def pool(database_url):
    await run_migrations(database_url, "ingest", "chime_ingest.migrations")
    pool = await create_pool(database_url, "ingest", min_size=1, max_size=2)
    yield pool
    await pool.close()


def update(update_id: int, text: str, chat_id: int = 7) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ann", "username": "ann"},
            "text": text,
        },
    }


async def interpret(pool, body: dict, zone: str = "Europe/Kyiv") -> dict[str, list[dict]]:
    received = envelope_of(
        UpdateReceived(
            bot_id=BOT, update_id=body["update_id"], kind=next(k for k in body if k != "update_id"),
            update=body,
        ),
        producer="ingest",
    )  # fmt: skip
    async with unit_of_work(pool, "ingest", received) as uow:
        await handlers.interpret_update(uow, received, default_time_zone=zone)
    rows = await pool.fetch("SELECT routing_key, body FROM outbox ORDER BY id")
    await pool.execute("DELETE FROM outbox")
    emitted: dict[str, list[dict]] = {}
    for row in rows:
        envelope = orjson.loads(row["body"])
        assert envelope["correlation_id"] == received.correlation_id
        assert envelope["causation_id"] == received.id
        emitted.setdefault(row["routing_key"], []).append(envelope["data"])
    return emitted


async def test_start_records_the_user_and_welcomes_them(pool):
    emitted = await interpret(pool, update(1, "/start"))
    [started] = emitted["user.started.v1"]
    assert (started["chat_id"], started["username"], started["first_name"]) == (7, "ann", "Ann")
    [reply] = emitted["send.requested.v1"]
    assert "I'm Chime" in reply["text"]
    assert "Europe/Kyiv" in reply["text"]
    assert reply["reply_to_message_id"] == 1
    # The projection: started, no zone chosen (the installation's default applies).
    chat = await pool.fetchrow("SELECT time_zone, started_at FROM chats WHERE chat_id = 7")
    assert chat["time_zone"] is None
    assert chat["started_at"] is not None


async def test_remind_asks_the_scheduler_in_the_users_zone(pool):
    before = datetime.now(UTC)
    emitted = await interpret(pool, update(2, "/remind in 10m stretch"))
    [requested] = emitted["reminder.requested.v1"]
    due = datetime.fromisoformat(requested["due_at"])
    assert before + timedelta(minutes=10) <= due <= datetime.now(UTC) + timedelta(minutes=10)
    assert requested["reminder_id"] == f"{BOT}-2"
    assert (requested["text"], requested["phrase"], requested["time_zone"]) == (
        "stretch", "in 10m", "Europe/Kyiv",
    )  # fmt: skip
    assert "send.requested.v1" not in emitted  # the scheduler confirms once it is stored


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("/remind someday maybe", "couldn't understand"),
        ("/remind in 5 fortnights x", "not a unit"),
        ("/remind", "Tell me when and what"),
        ("/help", "Here is what I understand"),
        ("/frobnicate", "I don't know /frobnicate"),
    ],
)
async def test_replies_say_what_was_wrong_and_how_to_write_it(pool, text, reply):
    emitted = await interpret(pool, update(3, text))
    [sent] = emitted["send.requested.v1"]
    assert reply in sent["text"]
    assert set(emitted) == {"send.requested.v1", "message.received.v1"}


async def test_plain_text_and_edits_are_only_received(pool):
    assert set(await interpret(pool, update(4, "just chatting"))) == {"message.received.v1"}
    edited = {"update_id": 5, "edited_message": update(5, "/start")["message"]}
    assert set(await interpret(pool, edited)) == {"message.received.v1"}


async def test_tz_sets_the_zone_later_reminders_are_read_in(pool):
    emitted = await interpret(pool, update(10, "/tz america/new_york", chat_id=8))
    [chosen] = emitted["time_zone.set.v1"]
    assert chosen["time_zone"] == "America/New_York"
    assert "now America/New_York" in emitted["send.requested.v1"][0]["text"]
    emitted = await interpret(pool, update(11, "/remind in 1h call", chat_id=8))
    assert emitted["reminder.requested.v1"][0]["time_zone"] == "America/New_York"
    shown = await interpret(pool, update(12, "/tz", chat_id=8))
    assert "Your time zone is America/New_York" in shown["send.requested.v1"][0]["text"]
    # The chat's stream holds its history in order.
    versions = await pool.fetch(
        "SELECT version, type FROM events WHERE stream_id = $1 ORDER BY version", f"chat-{BOT}-8"
    )
    assert [(r["version"], r["type"]) for r in versions] == [(1, "time_zone.set.v1")]


async def test_tz_with_an_unknown_zone_suggests_one(pool):
    emitted = await interpret(pool, update(13, "/tz Europe/Kiev2", chat_id=9))
    assert set(emitted) == {"send.requested.v1", "message.received.v1"}
    text = emitted["send.requested.v1"][0]["text"]
    assert "I don't know the time zone 'Europe/Kiev2'" in text
    assert "Did you mean Europe/Kiev" in text
    assert await pool.fetchval("SELECT count(*) FROM chats WHERE chat_id = 9") == 0

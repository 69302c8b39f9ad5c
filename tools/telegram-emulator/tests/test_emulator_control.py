import asyncio
import time

import pytest
from emulator_harness import BOT_ID, TOKEN, Harness

from chime_emulator.__main__ import parse_args

pytestmark = pytest.mark.unit


async def test_healthz(harness: Harness) -> None:
    assert (await harness.client.get("/_emulator/healthz")).json() == {"ok": True}


async def test_register_bot(harness: Harness) -> None:
    token = "555:another_token_value"
    info = await harness.control("/bots", {"token": token, "username": "chime_bot"})
    assert info == {
        "id": 555,
        "username": "chime_bot",
        "first_name": "Bot 555",
        "token": token,
        "privacy_mode": False,
        "require_start": False,
    }
    me = (await harness.call("getMe", token=token)).json()["result"]
    assert me["username"] == "chime_bot"
    bad = await harness.client.post("/_emulator/bots", json={"token": "nonsense"})
    assert bad.status_code == 400


async def test_create_chats(harness: Harness) -> None:
    private = await harness.control(
        "/chats", {"type": "private", "id": 9, "first_name": "Bo", "language_code": "de"}
    )
    assert private == {"id": 9, "type": "private", "first_name": "Bo"}
    group = await harness.control("/chats", {"type": "group", "title": "Team"})
    supergroup = await harness.control("/chats", {"type": "supergroup"})
    assert group["id"] < 0
    assert group["title"] == "Team"
    assert str(supergroup["id"]).startswith("-100")
    conflicting = await harness.client.post("/_emulator/chats", json={"type": "group", "id": 5})
    assert conflicting.status_code == 400


async def test_group_message_needs_a_sender(harness: Harness) -> None:
    group = await harness.control("/chats", {"type": "group", "title": "Team"})
    missing = await harness.client.post(
        "/_emulator/messages", json={"bot_id": BOT_ID, "chat_id": group["id"], "text": "hi"}
    )
    assert missing.status_code == 400
    await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": group["id"], "text": "hi", "from_id": 5}
    )
    [update] = await harness.ok("getUpdates")
    assert update["message"]["from"]["id"] == 5
    assert update["message"]["chat"]["id"] == group["id"]
    unknown = await harness.client.post(
        "/_emulator/messages", json={"token": TOKEN, "chat_id": -77, "text": "hi", "from_id": 5}
    )
    assert unknown.status_code == 404


async def test_block_and_unblock(harness: Harness) -> None:
    await harness.private_chat(42, first_name="Ann")
    await harness.ok("sendMessage", chat_id=42, text="before")
    await harness.control(f"/bots/{BOT_ID}/block", {"user_id": 42})
    blocked = await harness.call("sendMessage", chat_id=42, text="after")
    assert blocked.status_code == 403
    assert blocked.json() == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    await harness.control(f"/bots/{BOT_ID}/unblock", {"user_id": 42})
    await harness.ok("sendMessage", chat_id=42, text="again")
    kicked, restored = await harness.ok("getUpdates")
    bot_user = {
        "id": BOT_ID,
        "is_bot": True,
        "first_name": f"Bot {BOT_ID}",
        "username": f"bot{BOT_ID}_bot",
    }
    change = kicked["my_chat_member"]
    assert change["chat"] == {"id": 42, "type": "private", "first_name": "Ann"}
    assert change["from"] == {"id": 42, "is_bot": False, "first_name": "Ann"}
    assert isinstance(change["date"], int)
    assert change["old_chat_member"] == {"user": bot_user, "status": "member"}
    assert change["new_chat_member"] == {"user": bot_user, "status": "kicked", "until_date": 0}
    assert restored["my_chat_member"]["old_chat_member"]["status"] == "kicked"
    assert restored["my_chat_member"]["new_chat_member"] == {"user": bot_user, "status": "member"}


async def test_sent_messages_log(harness: Harness) -> None:
    await harness.private_chat(1)
    await harness.private_chat(2)
    before = time.time()
    first = await harness.ok("sendMessage", chat_id=1, text="a")
    await harness.ok("sendMessage", chat_id=2, text="b")
    await harness.ok("sendMessage", chat_id=1, text="c")
    everything = (await harness.client.get(f"/_emulator/bots/{BOT_ID}/sent")).json()["messages"]
    assert [m["text"] for m in everything] == ["a", "b", "c"]
    assert everything[0]["sent_at"] >= before
    later = await harness.client.get(
        f"/_emulator/bots/{BOT_ID}/sent",
        params={"chat_id": 1, "since_message_id": first["message_id"]},
    )
    assert [m["text"] for m in later.json()["messages"]] == ["c"]


async def test_error_fault_for_the_next_calls_only(harness: Harness) -> None:
    await harness.private_chat(1)
    fault = await harness.control(
        "/faults", {"mode": "error", "methods": ["sendMessage"], "count": 2}
    )
    assert fault["mode"] == "error"
    assert fault["status"] == 502
    await harness.ok("getMe")  # other methods are untouched
    for _ in range(2):
        response = await harness.call("sendMessage", chat_id=1, text="x")
        assert response.status_code == 502
        assert response.json() == {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    await harness.ok("sendMessage", chat_id=1, text="x")
    stats = (await harness.client.get("/_emulator/stats")).json()
    assert stats["errors_5xx_injected"] == 2
    assert stats["sent_total"] == 1


async def test_error_fault_status_and_bot_filter(harness: Harness) -> None:
    await harness.control("/faults", {"mode": "error", "status": 503, "bot_id": 999})
    await harness.ok("getMe")
    await harness.control("/faults", {"mode": "error", "status": 503, "bot_id": BOT_ID})
    response = await harness.call("getMe")
    assert response.status_code == 503
    assert response.json()["description"] == "Service Unavailable"
    cleared = await harness.client.delete("/_emulator/faults")
    assert cleared.json() == {"mode": "none"}
    await harness.ok("getMe")


async def test_timeout_and_slow_faults(harness: Harness) -> None:
    await harness.control("/faults", {"mode": "timeout", "delay_s": 0.1, "count": 1})
    started = time.monotonic()
    response = await harness.call("getMe")
    assert response.status_code == 504
    assert response.json()["description"] == "Gateway Timeout"
    assert time.monotonic() - started >= 0.1
    await harness.control("/faults", {"mode": "slow", "delay_s": 0.1})
    started = time.monotonic()
    await harness.ok("getMe")
    assert time.monotonic() - started >= 0.1


async def test_reset_clears_state_but_keeps_configured_bots(harness: Harness) -> None:
    await harness.private_chat(1)
    await harness.ok("sendMessage", chat_id=1, text="x")
    await harness.control("/faults", {"mode": "error"})
    await harness.control("/reset", {})
    assert (await harness.call("sendMessage", chat_id=1, text="x")).status_code == 400
    stats = (await harness.client.get("/_emulator/stats")).json()
    assert stats["sent_total"] == 0
    assert stats["rejected_429"] == 0


async def test_reset_ends_long_polls(harness: Harness) -> None:
    poll = asyncio.create_task(harness.ok("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    await harness.control("/reset", {})
    assert await asyncio.wait_for(poll, 2) == []


def test_cli_arguments() -> None:
    config = parse_args(
        [
            "--port",
            "9000",
            "--bot",
            "1:aaa",
            "--bot",
            "2:bbb",
            "--auto-register",
            "--token-rate",
            "5",
            "--private-chat-interval",
            "0.5",
            "--group-rate-per-minute",
            "3",
            "--paid-broadcast-rate",
            "100",
            "--access-log",
        ]
    )
    assert (config.paid_broadcast_rate, config.access_log) == (100, True)
    assert parse_args([]).access_log is False
    assert config.port == 9000
    assert config.bot_tokens == ("1:aaa", "2:bbb")
    assert config.auto_register is True
    assert (config.token_rate, config.private_chat_interval, config.group_rate_per_minute) == (
        5,
        0.5,
        3,
    )


async def test_inject_answers_like_its_fastapi_route(harness: Harness) -> None:
    """POST /messages is served before FastAPI's routing; its errors keep their shape."""
    invalid = await harness.client.post("/_emulator/messages", json={"bot_id": BOT_ID})
    assert invalid.status_code == 422
    assert {error["loc"][-1] for error in invalid.json()["detail"]} == {"chat_id", "text"}
    unknown = await harness.client.post(
        "/_emulator/messages", json={"bot_id": 1, "chat_id": 42, "text": "x"}
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "bot not found"}


async def test_malformed_bot_api_paths_are_not_found(harness: Harness) -> None:
    for path in (f"/bot{TOKEN}", f"/bot{TOKEN}/", f"/bot{TOKEN}/getMe/extra"):
        response = await harness.client.get(path)
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_a_user_edits_a_message(harness: Harness) -> None:
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "helo"})
    [original] = await harness.ok("getUpdates")
    message_id = original["message"]["message_id"]
    await harness.control(
        f"/chats/42/messages/{message_id}/edit", {"bot_id": BOT_ID, "text": "/start again"}
    )
    [_, edited] = await harness.ok("getUpdates")
    message = edited["edited_message"]
    assert message["message_id"] == message_id
    assert message["text"] == "/start again"
    assert message["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    assert isinstance(message["edit_date"], int)
    channel = await harness.control("/chats", {"type": "channel", "title": "C"})
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": channel["id"], "text": "a"})
    *_, post = await harness.ok("getUpdates")
    await harness.control(
        f"/chats/{channel['id']}/messages/{post['channel_post']['message_id']}/edit",
        {"bot_id": BOT_ID, "text": "b"},
    )
    *_, edited_post = await harness.ok("getUpdates")
    assert edited_post["edited_channel_post"]["text"] == "b"
    missing = await harness.client.post(
        "/_emulator/chats/42/messages/999/edit", json={"bot_id": BOT_ID, "text": "x"}
    )
    assert missing.status_code == 404


async def test_a_bot_that_must_be_started_first(harness: Harness) -> None:
    token = "888:pool_worker_bot_token_0001"
    info = await harness.control("/bots", {"token": token, "require_start": True})
    assert info["require_start"] is True
    await harness.private_chat(42)
    first = await harness.call("sendMessage", token=token, chat_id=42, text="hello")
    assert first.status_code == 403
    assert first.json()["description"] == ("Forbidden: bot can't initiate conversation with a user")
    await harness.ok("sendMessage", chat_id=42, text="another bot is unaffected")
    await harness.control("/messages", {"token": token, "chat_id": 42, "text": "/start x"})
    after = await harness.call("sendMessage", token=token, chat_id=42, text="hello")
    assert after.status_code == 200

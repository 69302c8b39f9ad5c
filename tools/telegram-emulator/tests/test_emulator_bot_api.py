import asyncio

import pytest
from emulator_harness import BOT_ID, TOKEN, Harness, MakeHarness

pytestmark = pytest.mark.unit


async def test_get_me(harness: Harness) -> None:
    me = await harness.ok("getMe")
    assert me["id"] == BOT_ID
    assert me["is_bot"] is True
    assert me["username"] == f"bot{BOT_ID}_bot"
    assert {"first_name", "can_join_groups", "can_read_all_group_messages"} <= me.keys()
    assert me["supports_inline_queries"] is False


async def test_method_names_are_case_insensitive_and_get_works(harness: Harness) -> None:
    response = await harness.client.get(f"/bot{TOKEN}/getme")
    assert response.json()["result"]["id"] == BOT_ID


async def test_unknown_token_is_unauthorized(harness: Harness) -> None:
    response = await harness.call("getMe", token="999:unknownunknownunknownunknown")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_is_not_found(harness: Harness) -> None:
    response = await harness.call("launchRocket")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_auto_register(make_harness: MakeHarness) -> None:
    harness = await make_harness(auto_register=True)
    response = await harness.call("getMe", token="777:" + "x" * 25)
    assert response.json()["result"]["username"] == "bot777_bot"
    short = await harness.call("getMe", token="778:short")
    assert short.status_code == 401


async def test_send_message_shape(harness: Harness) -> None:
    chat = await harness.private_chat(42, first_name="Ann", username="ann")
    entities = [{"type": "bold", "offset": 0, "length": 2}]
    first = await harness.ok("sendMessage", chat_id=42, text="Hi there", entities=entities)
    second = await harness.ok("sendMessage", chat_id="42", text="again")
    assert first["message_id"] + 1 == second["message_id"]
    assert first["from"] == {
        "id": BOT_ID,
        "is_bot": True,
        "first_name": f"Bot {BOT_ID}",
        "username": f"bot{BOT_ID}_bot",
    }
    assert (
        first["chat"]
        == chat
        == {"id": 42, "type": "private", "first_name": "Ann", "username": "ann"}
    )
    assert isinstance(first["date"], int)
    assert first["text"] == "Hi there"
    assert first["entities"] == entities
    assert "entities" not in second


async def test_send_message_accepts_form_and_query_parameters(harness: Harness) -> None:
    await harness.private_chat(42)
    form = await harness.client.post(
        f"/bot{TOKEN}/sendMessage", data={"chat_id": "42", "text": "f"}
    )
    assert form.json()["result"]["text"] == "f"
    query = await harness.client.get(f"/bot{TOKEN}/sendMessage?chat_id=42&text=q")
    assert query.json()["result"]["text"] == "q"
    multipart = await harness.client.post(
        f"/bot{TOKEN}/sendMessage",
        data={"chat_id": "42", "text": "m"},
        files={"unused": ("a.txt", b"x")},
    )
    assert multipart.json()["result"]["text"] == "m"


async def test_send_message_with_parse_mode_stores_plain_text(harness: Harness) -> None:
    await harness.private_chat(42)
    message = await harness.ok("sendMessage", chat_id=42, text="<b>Hi</b>", parse_mode="HTML")
    assert message["text"] == "Hi"
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 2}]


@pytest.mark.parametrize(
    ("params", "status", "description"),
    [
        ({"chat_id": 42, "text": ""}, 400, "Bad Request: message text is empty"),
        ({"chat_id": 42, "text": "x" * 4097}, 400, "Bad Request: message is too long"),
        ({"chat_id": 43, "text": "hi"}, 400, "Bad Request: chat not found"),
        ({"chat_id": -5, "text": "hi"}, 400, "Bad Request: chat not found"),
        ({"text": "hi"}, 400, "Bad Request: chat_id is empty"),
        (
            {"chat_id": 42, "text": "Done.", "parse_mode": "MarkdownV2"},
            400,
            "Bad Request: can't parse entities: "
            "Character '.' is reserved and must be escaped with the preceding '\\'",
        ),
        (
            {"chat_id": 42, "text": "<b>hi", "parse_mode": "HTML"},
            400,
            "Bad Request: can't parse entities: "
            'Can\'t find end tag corresponding to start tag "b"',
        ),
    ],
)
async def test_send_message_errors(
    harness: Harness, params: dict[str, object], status: int, description: str
) -> None:
    await harness.private_chat(42)
    response = await harness.call("sendMessage", **params)
    assert response.status_code == status
    assert response.json() == {"ok": False, "error_code": status, "description": description}


async def test_exactly_4096_characters_is_allowed(harness: Harness) -> None:
    await harness.private_chat(42)
    await harness.ok("sendMessage", chat_id=42, text="x" * 4096)


async def test_send_to_group_and_channel(harness: Harness) -> None:
    group = await harness.control("/chats", {"type": "group", "title": "G"})
    channel = await harness.control("/chats", {"type": "channel", "title": "C", "username": "news"})
    assert group["id"] < 0
    assert str(channel["id"]).startswith("-100")
    in_group = await harness.ok("sendMessage", chat_id=group["id"], text="hi")
    assert in_group["chat"]["type"] == "group"
    in_channel = await harness.ok("sendMessage", chat_id="@news", text="hi")
    assert in_channel["sender_chat"]["id"] == channel["id"]
    assert "from" not in in_channel


async def test_chat_action(harness: Harness) -> None:
    await harness.private_chat(42)
    assert await harness.ok("sendChatAction", chat_id=42, action="typing") is True


async def inject(harness: Harness, text: str, user_id: int = 42) -> int:
    answer = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": user_id, "text": text}
    )
    assert answer["delivery"] == "queued"
    update_id: int = answer["update_id"]
    return update_id


async def test_get_updates_shape(harness: Harness) -> None:
    update_id = await inject(harness, "/start now")
    [update] = await harness.ok("getUpdates")
    assert update["update_id"] == update_id
    message = update["message"]
    assert message["from"] == {"id": 42, "is_bot": False, "first_name": "User 42"}
    assert message["chat"] == {"id": 42, "type": "private", "first_name": "User 42"}
    assert message["text"] == "/start now"
    assert message["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    assert {"message_id", "date"} <= message.keys()


async def test_get_updates_offset_semantics(harness: Harness) -> None:
    ids = [await inject(harness, f"m{n}") for n in range(5)]
    assert ids == sorted(ids)
    assert len(await harness.ok("getUpdates")) == 5  # unconfirmed updates come back
    assert [u["update_id"] for u in await harness.ok("getUpdates", limit=2)] == ids[:2]
    confirmed = await harness.ok("getUpdates", offset=ids[2])
    assert [u["update_id"] for u in confirmed] == ids[2:]
    assert [u["update_id"] for u in await harness.ok("getUpdates")] == ids[2:]
    assert [u["update_id"] for u in await harness.ok("getUpdates", offset=-1)] == ids[4:]
    assert [u["update_id"] for u in await harness.ok("getUpdates")] == ids[4:]
    assert await harness.ok("getUpdates", offset=ids[4] + 1) == []
    info = await harness.ok("getWebhookInfo")
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


async def test_get_updates_long_polling_wakes_on_new_update(harness: Harness) -> None:
    poll = asyncio.create_task(harness.ok("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await inject(harness, "hello")
    updates = await asyncio.wait_for(poll, 2)
    assert updates[0]["message"]["text"] == "hello"


async def test_get_updates_long_polling_times_out_empty(harness: Harness) -> None:
    assert await harness.ok("getUpdates", timeout=0) == []
    assert await asyncio.wait_for(harness.ok("getUpdates", timeout=1), 3) == []


async def test_newer_get_updates_terminates_older(harness: Harness) -> None:
    older = asyncio.create_task(harness.call("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    newer = asyncio.create_task(harness.call("getUpdates", timeout=1))
    response = await asyncio.wait_for(older, 2)
    assert response.status_code == 409
    assert response.json()["description"] == (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )
    assert (await newer).status_code == 200


async def test_get_updates_conflicts_with_webhook(harness: Harness) -> None:
    set_result = await harness.call("setWebhook", url="https://example.org/hook")
    assert set_result.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    response = await harness.call("getUpdates")
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error_code": 409,
        "description": "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first",
    }
    assert await harness.ok("deleteWebhook") is True
    assert await harness.ok("getUpdates") == []


async def test_set_webhook_rejects_bad_secret(harness: Harness) -> None:
    response = await harness.call("setWebhook", url="https://e.org/h", secret_token="bad secret!")
    assert response.status_code == 400
    assert response.json()["description"] == (
        "Bad Request: secret token contains unallowed characters"
    )
    too_long = await harness.call("setWebhook", url="https://e.org/h", secret_token="a" * 257)
    assert too_long.status_code == 400


async def test_allowed_updates_applies_to_updates_created_after_it(harness: Harness) -> None:
    """As Telegram: the setting does not affect updates created before the call."""
    await inject(harness, "hello")
    await harness.ok("getUpdates", allowed_updates=["my_chat_member"])
    filtered = await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "ignored"}
    )
    assert filtered == {"update_id": None, "delivery": "filtered"}
    await harness.control("/bots/123456/block", {"user_id": 42})
    updates = await harness.ok("getUpdates")
    assert [next(k for k in u if k != "update_id") for u in updates] == [
        "message",
        "my_chat_member",
    ]


async def test_updates_with_integers_beyond_64_bits_still_serialize(harness: Harness) -> None:
    huge = {"update_id": 5, "message": {"chat": {"id": 2**70}, "text": "wide"}}
    await harness.control("/updates", {"bot_id": BOT_ID, "update": huge})
    assert await harness.ok("getUpdates") == [huge]

"""Groups, channels, migration and users who leave Telegram, through the real HTTP app."""

from typing import Any

import pytest
from emulator_harness import BOT_ID, Harness

pytestmark = pytest.mark.unit


async def error_body(harness: Harness, method: str, **params: Any) -> dict[str, Any]:
    response = await harness.call(method, **params)
    body: dict[str, Any] = response.json()
    assert body["error_code"] == response.status_code
    return body


def kinds(updates: list[dict[str, Any]]) -> list[str]:
    return [next(key for key in update if key != "update_id") for update in updates]


async def set_status(harness: Harness, chat_id: int, status: str, **extra: Any) -> Any:
    return await harness.control(
        f"/chats/{chat_id}/members", {"bot_id": BOT_ID, "status": status} | extra
    )


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
async def test_bot_added_then_kicked_from_a_group(harness: Harness, chat_type: str) -> None:
    group = await harness.control("/chats", {"type": chat_type, "title": "Team"})
    added = await set_status(harness, group["id"], "member", from_id=7)
    change, joined = await harness.ok("getUpdates")
    assert [change["update_id"], joined["update_id"]] == added["update_ids"]
    member = change["my_chat_member"]
    assert member["chat"] == group
    assert member["from"]["id"] == 7
    assert member["old_chat_member"]["status"] == "left"
    assert member["new_chat_member"] == {
        "user": {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": f"Bot {BOT_ID}",
            "username": f"bot{BOT_ID}_bot",
        },
        "status": "member",
    }
    assert joined["message"]["new_chat_members"] == [member["new_chat_member"]["user"]]
    await harness.ok("sendMessage", chat_id=group["id"], text="hello")
    await set_status(harness, group["id"], "kicked", from_id=7)
    [*_, kicked] = await harness.ok("getUpdates", offset=joined["update_id"] + 1)
    assert kicked["my_chat_member"]["old_chat_member"]["status"] == "member"
    assert kicked["my_chat_member"]["new_chat_member"]["until_date"] == 0
    assert await error_body(harness, "sendMessage", chat_id=group["id"], text="x") == {
        "ok": False,
        "error_code": 403,
        "description": f"Forbidden: bot was kicked from the {chat_type} chat",
    }
    await set_status(harness, group["id"], "left")
    assert (await error_body(harness, "sendMessage", chat_id=group["id"], text="x"))[
        "description"
    ] == f"Forbidden: bot is not a member of the {chat_type} chat"


async def test_a_removed_bot_hears_nothing_from_the_group(harness: Harness) -> None:
    group = await harness.control("/chats", {"type": "group", "title": "Team"})
    await set_status(harness, group["id"], "left")
    response = await harness.client.post(
        "/_emulator/messages",
        json={"bot_id": BOT_ID, "chat_id": group["id"], "text": "hi", "from_id": 5},
    )
    assert response.status_code == 400


async def test_channel_needs_the_bot_as_admin(harness: Harness) -> None:
    channel = await harness.control("/chats", {"type": "channel", "title": "News"})
    await set_status(harness, channel["id"], "member")
    assert await error_body(harness, "sendMessage", chat_id=channel["id"], text="x") == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: need administrator rights in the channel chat",
    }
    await set_status(harness, channel["id"], "administrator")
    first, promoted = await harness.ok("getUpdates")
    assert kinds([first, promoted]) == ["my_chat_member", "my_chat_member"]  # no service msg
    admin = promoted["my_chat_member"]["new_chat_member"]
    assert admin["status"] == "administrator"
    assert admin["can_post_messages"] is True
    assert admin["can_manage_chat"] is True
    assert {"can_be_edited", "is_anonymous", "can_delete_stories"} <= admin.keys()
    post = await harness.ok("sendMessage", chat_id=channel["id"], text="news")
    assert post["sender_chat"] == channel
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": channel["id"], "text": "hi"})
    [*_, channel_post] = await harness.ok("getUpdates", offset=promoted["update_id"] + 1)
    assert channel_post["channel_post"]["sender_chat"] == channel
    assert "from" not in channel_post["channel_post"]


async def test_group_upgraded_to_a_supergroup(harness: Harness) -> None:
    group = await harness.control("/chats", {"type": "group", "title": "Team"})
    await set_status(harness, group["id"], "member", from_id=7)
    before = await harness.ok("getUpdates")
    migrated = await harness.control(f"/chats/{group['id']}/migrate", {"from_id": 7})
    new_id = migrated["migrate_to_chat_id"]
    assert str(new_id).startswith("-100")
    old_side, new_side = await harness.ok("getUpdates", offset=before[-1]["update_id"] + 1)
    assert migrated["update_ids"] == {str(BOT_ID): [old_side["update_id"], new_side["update_id"]]}
    assert old_side["message"]["chat"] == group
    assert old_side["message"]["migrate_to_chat_id"] == new_id
    assert new_side["message"]["chat"] == {"id": new_id, "type": "supergroup", "title": "Team"}
    assert new_side["message"]["migrate_from_chat_id"] == group["id"]
    assert new_side["message"]["sender_chat"]["id"] == new_id
    assert await error_body(harness, "sendMessage", chat_id=group["id"], text="x") == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": new_id},
    }
    sent = await harness.ok("sendMessage", chat_id=new_id, text="moved")
    assert sent["chat"]["type"] == "supergroup"
    again = await harness.client.post(f"/_emulator/chats/{group['id']}/migrate", json={})
    assert again.status_code == 400


async def test_deactivated_user(harness: Harness) -> None:
    await harness.private_chat(42)
    user = await harness.control("/users/42", {"deactivated": True})
    assert user["deactivated"] is True
    assert await error_body(harness, "sendMessage", chat_id=42, text="x") == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: user is deactivated",
    }
    await harness.control("/users/42", {"deactivated": False})
    await harness.ok("sendMessage", chat_id=42, text="back")
    counters = (await harness.client.get("/_emulator/stats")).json()
    assert counters["rejected_per_status"] == {"403": 1}


async def test_a_403_uses_no_message_id(harness: Harness) -> None:
    await harness.private_chat(42)
    await harness.control(f"/bots/{BOT_ID}/block", {"user_id": 42})
    await error_body(harness, "sendMessage", chat_id=42, text="x")
    await harness.control(f"/bots/{BOT_ID}/unblock", {"user_id": 42})
    assert (await harness.ok("sendMessage", chat_id=42, text="y"))["message_id"] == 1


async def test_privacy_mode_in_groups(harness: Harness) -> None:
    bot = await harness.control(
        "/bots",
        {"token": "777:privacy_mode_bot_token", "username": "ChimeBot", "privacy_mode": True},
    )
    me = (await harness.call("getMe", token=bot["token"])).json()["result"]
    assert me["can_read_all_group_messages"] is False
    assert (await harness.ok("getMe"))["can_read_all_group_messages"] is True
    group = await harness.control("/chats", {"type": "supergroup", "title": "G"})

    async def says(text: str, **extra: Any) -> Any:
        body = {"bot_id": 777, "chat_id": group["id"], "text": text, "from_id": 5} | extra
        return await harness.control("/messages", body)

    assert (await says("just chatting"))["delivery"] == "filtered"
    assert (await says("/list@OtherBot"))["delivery"] == "filtered"
    assert (await says("/list@chimebot"))["delivery"] == "queued"
    assert (await says("/list"))["delivery"] == "queued"
    sent = await harness.ok(
        "sendMessage", token=bot["token"], chat_id=group["id"], text="Which time?"
    )
    reply = await says("18:30", reply_to_message_id=sent["message_id"])
    assert reply["delivery"] == "queued"
    updates = (await harness.call("getUpdates", token=bot["token"])).json()["result"]
    assert [u["message"]["text"] for u in updates] == ["/list@chimebot", "/list", "18:30"]
    assert updates[-1]["message"]["reply_to_message"] == sent
    await set_status(harness, group["id"], "administrator", bot_id=777)
    assert (await says("now I see everything"))["delivery"] == "queued"

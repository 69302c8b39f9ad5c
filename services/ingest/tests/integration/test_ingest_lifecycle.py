"""A chat's life through the real path: blocked and back, groups (addressed commands,
kicks, migration), channels; every message, edit and channel post received."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

GROUP, SUPERGROUP, CHANNEL = -100, -1001234, -1009999
SAMPLES = Path(__file__).resolve().parents[4].parent / "shared" / "telegram-bot-api" / "samples"


async def test_blocked_then_unblocked_then_start_again(talk):
    await talk(talk.message("/start"))
    [blocked] = (await talk(talk.membership("member", "kicked")))["chat.member.changed.v1"]
    assert (blocked["old_state"], blocked["new_state"], blocked["chat_type"]) == (
        "member", "kicked", "private",
    )  # fmt: skip
    assert blocked["bot_username"] == "chime_bot"
    assert (await talk.chat())["member"] == "kicked"
    # Unblocking: Telegram says member again (the sender lifts its mark), then /start.
    [back] = (await talk(talk.membership("kicked", "member")))["chat.member.changed.v1"]
    assert back["new_state"] == "member"
    emitted = await talk(talk.message("/start"))
    assert "user.started.v1" in emitted  # the sender lifts its mark on this too
    assert "I'm Chime" in talk.reply_of(emitted)
    assert await talk.stream() == [
        "user.started.v1", "language.set.v1", "chat.member.changed.v1",
        "chat.member.changed.v1", "user.started.v1",
    ]  # fmt: skip


async def test_the_same_membership_twice_is_recorded_once(talk):
    assert "chat.member.changed.v1" in await talk(talk.membership("member", "kicked"))
    assert await talk(talk.membership("member", "kicked")) == {}


async def test_added_to_a_group_then_kicked(talk):
    added = await talk(talk.membership("left", "member", GROUP, "group"))
    assert added["chat.member.changed.v1"][0]["chat_title"] == "Team"
    kicked = await talk(talk.membership("member", "kicked", GROUP, "group"))
    assert kicked["chat.member.changed.v1"][0]["new_state"] == "kicked"
    assert (await talk.chat(GROUP))["member"] == "kicked"


async def test_a_channel_that_makes_the_bot_an_admin_who_may_post_is_a_broadcast_target(talk):
    rights = {
        "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
        "can_delete_messages": True, "can_manage_video_chats": False,
        "can_restrict_members": True, "can_promote_members": False, "can_change_info": True,
        "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False,
        "can_delete_stories": False, "can_post_messages": True, "can_edit_messages": True,
    }  # fmt: skip
    emitted = await talk(talk.membership("left", "administrator", CHANNEL, "channel", **rights))
    [promoted] = emitted["chat.member.changed.v1"]
    assert (promoted["new_state"], promoted["can_post_messages"]) == ("administrator", True)
    chat = await talk.chat(CHANNEL)
    assert (chat["chat_type"], chat["member"], chat["can_post"]) == (
        "channel",
        "administrator",
        True,
    )


async def test_group_commands_addressed_to_this_bot_or_to_none(talk):
    await talk(talk.membership("left", "member", GROUP, "group"))  # learns its username
    said = await talk(talk.message("/help@chime_bot", GROUP, kind="group", user_id=5))
    assert "Here is what I understand" in talk.reply_of(said)
    said = await talk(talk.message("/help", GROUP, kind="group", user_id=5))
    assert "Here is what I understand" in talk.reply_of(said)
    other = await talk(talk.message("/help@other_bot", GROUP, kind="group", user_id=5))
    assert set(other) == {"message.received.v1"}
    # An unknown command nobody was named in may be another bot's: no answer in a group.
    assert set(await talk(talk.message("/weather", GROUP, kind="group"))) == {"message.received.v1"}
    unknown = await talk(talk.message("/weather@chime_bot", GROUP, kind="group"))
    assert "I don't know /weather" in talk.reply_of(unknown)


async def test_a_group_schedule_is_owned_by_the_group(talk):
    emitted = await talk(talk.message("/every daily 9:00 standup", GROUP, kind="group", user_id=5))
    [asked] = emitted["schedule.requested.v1"]
    assert (asked["chat_id"], asked["owner"]["id"]) == (GROUP, f"{talk.BOT}:{GROUP}")


async def test_a_group_that_became_a_supergroup_takes_its_settings_along(talk):
    await talk(talk.message("/tz Asia/Tokyo", GROUP, kind="group", user_id=5))
    await talk(talk.message("/language uk", GROUP, kind="group", user_id=5))
    moved = talk.message(None, GROUP, kind="group", user_id=5, migrate_to_chat_id=SUPERGROUP)
    emitted = await talk(moved)
    [migrated] = emitted["chat.migrated.v1"]
    assert (migrated["old_chat_id"], migrated["new_chat_id"]) == (GROUP, SUPERGROUP)
    assert emitted["time_zone.set.v1"][0]["chat_id"] == SUPERGROUP
    assert emitted["language.set.v1"][0]["chosen_by"] == "command"
    # Telegram also says so in the supergroup: nothing happens twice.
    arrived = talk.message(
        None, SUPERGROUP, kind="supergroup", user_id=5, migrate_from_chat_id=GROUP
    )
    assert set(await talk(arrived)) == {"message.received.v1"}
    assert (await talk.chat(GROUP))["migrated_to"] == SUPERGROUP
    supergroup = await talk.chat(SUPERGROUP)
    assert (supergroup["time_zone"], supergroup["language"]) == ("Asia/Tokyo", "uk")
    said = await talk(talk.message("/tz", SUPERGROUP, kind="supergroup", user_id=5))
    assert "Ваш часовий пояс — Asia/Tokyo" in talk.reply_of(said)


async def test_the_supergroup_side_alone_also_moves_the_chat(talk):
    await talk(talk.message("/tz Asia/Tokyo", GROUP, kind="group", user_id=5))
    await talk(talk.message("/stop", GROUP, kind="group", user_id=5))
    arrived = talk.message(
        None, SUPERGROUP, kind="supergroup", user_id=5, migrate_from_chat_id=GROUP
    )
    emitted = await talk(arrived)
    assert emitted["chat.migrated.v1"][0]["new_chat_id"] == SUPERGROUP
    assert emitted["chat.stopped.v1"][0]["chat_id"] == SUPERGROUP  # still stopped there
    supergroup = await talk.chat(SUPERGROUP)
    assert (supergroup["time_zone"], supergroup["stopped"]) == ("Asia/Tokyo", True)


async def test_every_message_edit_and_channel_post_is_received(talk):
    photo = talk.message(None, caption="look", photo=[
        {"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}
    ])  # fmt: skip
    [received] = (await talk(photo))["message.received.v1"]
    assert (received["content_type"], received["text"], received["command"]) == (
        "photo", "look", None,
    )  # fmt: skip
    command = (await talk(talk.message("/remind@chime_bot in 5m x")))["message.received.v1"][0]
    assert (command["command"], command["language_code"]) == ("/remind", "en")
    edited = talk.message("fixed typo", edit_date=1_764_000_100)
    edited = {"update_id": edited["update_id"], "edited_message": edited["message"]}
    [received] = (await talk(edited))["message.received.v1"]
    assert received["update_kind"] == "edited_message"
    assert received["edited_at"] is not None
    post = talk.message("news", CHANNEL, kind="channel")
    post["message"].pop("from")
    post = {"update_id": post["update_id"], "channel_post": post["message"]}
    [received] = (await talk(post))["message.received.v1"]
    assert (received["update_kind"], received["chat_type"], received["user_id"]) == (
        "channel_post", "channel", None,
    )  # fmt: skip


async def test_real_updates_of_every_kind_are_read(talk):
    """Telegram's own samples: each is read without an error; messages are received."""
    paths = sorted(SAMPLES.glob("*.json"))
    assert len(paths) > 25
    for path in paths:
        if path.name == "MANIFEST.json":
            continue
        body = json.loads(path.read_text())
        emitted = await talk(body)
        kind = next(k for k in body if k != "update_id")
        if kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
            assert "message.received.v1" in emitted, path.name


async def test_a_membership_with_fewer_rights_than_aiogram_knows_is_still_read(talk):
    """An administrator as an older server (or the emulator) describes it: user and status."""
    emitted = await talk(talk.membership("member", "administrator", CHANNEL, "channel"))
    assert emitted["chat.member.changed.v1"][0]["new_state"] == "administrator"


async def test_an_unreadable_membership_changes_nothing(talk):
    body = talk.membership("member", "kicked")
    del body["my_chat_member"]["chat"]
    assert await talk(body) == {}

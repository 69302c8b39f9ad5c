"""Rich messages and changes to sent ones, through the emulator: templates, keyboards, media,
flags, edits and deletes by delivery id, a group's move to a supergroup, paid broadcast."""

import pytest
from sender_harness import BOT_ID, Emulator, request

from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    MessageDeleteRequested,
    MessageEditRequested,
    SendBatchRequested,
)
from chime_contracts.events.shared import InlineButton, Media, SendSource
from chime_kit.testing import EventTap, eventually

pytestmark = pytest.mark.integration

SNOOZE = InlineButton(text="Snooze", callback_data="snooze:15m")


async def test_a_template_with_a_keyboard_is_edited_then_deleted_by_delivery_id(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(61)
    await start_sender(emulator)
    source = SendSource(kind="notification", id="n-61")
    await tap.publish(
        request(
            "rich-1", 61, "<b>Hi</b> {name}", parse_mode="HTML", variables={"name": "<Eve & co>"},
            buttons=[[SNOOZE]], disable_notification=True, source=source,
        )
    )  # fmt: skip
    [sent] = await tap.envelopes_of("message.sent.v1")
    assert sent["data"]["source"] == {"kind": "notification", "id": "n-61"}
    [message] = await emulator.sent(61)
    assert message["text"] == "Hi <Eve & co>"  # the variable's <, & were escaped, not parsed
    assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "snooze:15m"

    edit = MessageEditRequested(edit_id="e-1", delivery_id="rich-1", text="Edited")
    await tap.publish(envelope_of(edit, producer="api"))
    await tap.envelopes_of("message.sent.v1", count=2)
    [edited] = await emulator.sent(61)
    assert edited["text"] == "Edited"
    assert edited["reply_markup"]["inline_keyboard"][0][0]["text"] == "Snooze"  # kept

    delete = MessageDeleteRequested(delete_id="x-1", delivery_id="rich-1")
    await tap.publish(envelope_of(delete, producer="api"))
    await tap.envelopes_of("message.sent.v1", count=3)
    assert (await emulator.stats())["deleted_total"] == 1


async def test_a_photo_goes_with_its_caption(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(62)
    await start_sender(emulator)
    photo = Media(kind="photo", file="https://example.org/cat.jpg")
    await tap.publish(request("photo-1", 62, "a cat", media=photo, protect_content=True))
    await tap.envelopes_of("message.sent.v1")
    [message] = await emulator.sent(62)
    assert message["caption"] == "a cat"
    assert len(message["photo"]) == 3


async def test_a_group_upgraded_to_a_supergroup_is_sent_to_at_its_new_id(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.control("/chats", {"type": "group", "id": -5001, "title": "team"})
    await start_sender(emulator)
    await tap.publish(request("g-1", -5001, "before"))
    await tap.envelopes_of("message.sent.v1")
    moved = await emulator.control("/chats/-5001/migrate", {})
    new_id = moved["migrate_to_chat_id"]
    await tap.publish(request("g-2", -5001, "after"))
    [migrated] = await tap.envelopes_of("chat.migrated.v1")
    assert (migrated["data"]["old_chat_id"], migrated["data"]["new_chat_id"]) == (-5001, new_id)
    sent = await tap.envelopes_of("message.sent.v1", count=2)
    assert sent[1]["data"]["chat_id"] == new_id
    assert [m["text"] for m in await emulator.sent(new_id)] == ["after"]


async def test_a_paid_broadcast_batch_reaches_every_chat_once(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    chats = list(range(70, 76))
    for chat in chats:
        await emulator.private_chat(chat)
    await start_sender(emulator, bot_limits={str(BOT_ID): {"paid_rate": 1000}})
    batch = SendBatchRequested(
        batch_id="b-1", bot_id=BOT_ID, chat_ids=[*chats, 70], text="news",
        source=SendSource(kind="broadcast", id="b-1"), paid_broadcast=True,
    )  # fmt: skip
    await tap.publish(envelope_of(batch, producer="scheduler"))
    await tap.publish(envelope_of(batch, producer="scheduler"))  # the same batch again
    sent = await tap.envelopes_of("message.sent.v1", count=len(chats))
    assert sorted(e["data"]["chat_id"] for e in sent) == chats

    async def all_paid() -> bool:
        return (await emulator.stats())["paid_broadcast_sent"] == len(chats)

    assert await eventually(all_paid)
    assert (await emulator.stats())["sent_total"] == len(chats)

"""Rich messages, replies, edits, deletions and inline buttons through the real HTTP app."""

from typing import Any

import pytest
from emulator_harness import BOT_ID, TOKEN, Harness, MakeHarness

pytestmark = pytest.mark.unit

SNOOZE = {"inline_keyboard": [[{"text": "Snooze", "callback_data": "snooze:15m"}]]}


async def error_of(harness: Harness, method: str, **params: Any) -> tuple[int, str]:
    response = await harness.call(method, **params)
    body = response.json()
    assert body["ok"] is False
    assert body["error_code"] == response.status_code
    return response.status_code, body["description"]


async def stats(harness: Harness) -> dict[str, Any]:
    answer: dict[str, Any] = (await harness.client.get("/_emulator/stats")).json()
    return answer


async def test_send_photo_by_url_then_by_file_id(harness: Harness) -> None:
    await harness.private_chat(42)
    first = await harness.ok(
        "sendPhoto",
        chat_id=42,
        photo="https://cdn.example.org/cat.jpg",
        caption="<b>Cat</b>",
        parse_mode="HTML",
    )
    sizes = first["photo"]
    assert [size["width"] for size in sizes] == [90, 320, 800]
    assert all({"file_id", "file_unique_id", "height", "file_size"} <= s.keys() for s in sizes)
    assert first["caption"] == "Cat"
    assert first["caption_entities"] == [{"type": "bold", "offset": 0, "length": 3}]
    assert "text" not in first
    again = await harness.ok("sendPhoto", chat_id=42, photo=sizes[-1]["file_id"])
    assert again["photo"] == sizes
    assert "caption" not in again


async def test_send_document_by_url_upload_and_file_id(harness: Harness) -> None:
    await harness.private_chat(42)
    by_url = await harness.ok(
        "sendDocument", chat_id=42, document="https://example.org/files/report%202026.pdf"
    )
    document = by_url["document"]
    assert document["file_name"] == "report 2026.pdf"
    assert document["mime_type"] == "application/pdf"
    uploaded = await harness.client.post(
        f"/bot{TOKEN}/sendDocument",
        data={"chat_id": "42", "caption": "notes"},
        files={"document": ("notes.txt", b"hello world", "text/plain")},
    )
    result = uploaded.json()["result"]
    assert result["document"]["file_name"] == "notes.txt"
    assert result["document"]["file_size"] == 11
    assert result["caption"] == "notes"
    reused = await harness.ok("sendDocument", chat_id=42, document=document["file_id"])
    assert reused["document"] == document


@pytest.mark.parametrize(
    ("method", "params", "description"),
    [
        ("sendPhoto", {}, "Bad Request: there is no photo in the request"),
        ("sendDocument", {}, "Bad Request: there is no document in the request"),
        (
            "sendPhoto",
            {"photo": "nonsense"},
            "Bad Request: wrong file identifier/HTTP URL specified",
        ),
        (
            "sendPhoto",
            {"photo": "https://down.invalid/x.jpg"},
            "Bad Request: failed to get HTTP URL content",
        ),
        (
            "sendPhoto",
            {"photo": "https://e.org/a.jpg", "caption": "x" * 1025},
            "Bad Request: message caption is too long",
        ),
    ],
)
async def test_media_errors(
    harness: Harness, method: str, params: dict[str, Any], description: str
) -> None:
    await harness.private_chat(42)
    assert await error_of(harness, method, chat_id=42, **params) == (400, description)


async def test_a_document_file_id_is_not_a_photo(harness: Harness) -> None:
    await harness.private_chat(42)
    sent = await harness.ok("sendDocument", chat_id=42, document="https://e.org/a.zip")
    assert await error_of(harness, "sendPhoto", chat_id=42, photo=sent["document"]["file_id"]) == (
        400,
        "Bad Request: can't use file of type Document as Photo",
    )


async def test_caption_of_exactly_1024_is_allowed(harness: Harness) -> None:
    await harness.private_chat(42)
    await harness.ok("sendPhoto", chat_id=42, photo="https://e.org/a.jpg", caption="x" * 1024)


async def test_reply_parameters(harness: Harness) -> None:
    await harness.private_chat(42)
    original = await harness.ok("sendMessage", chat_id=42, text="original")
    reply = await harness.ok(
        "sendMessage",
        chat_id=42,
        text="reply",
        reply_parameters={"message_id": original["message_id"]},
    )
    assert reply["reply_to_message"] == original
    missing = {"message_id": 999}
    assert await error_of(
        harness, "sendMessage", chat_id=42, text="x", reply_parameters=missing
    ) == (400, "Bad Request: message to be replied not found")
    allowed = await harness.ok(
        "sendMessage",
        chat_id=42,
        text="anyway",
        reply_parameters=missing | {"allow_sending_without_reply": True},
    )
    assert "reply_to_message" not in allowed
    legacy = await harness.ok(
        "sendMessage", chat_id=42, text="legacy", reply_to_message_id=original["message_id"]
    )
    assert legacy["reply_to_message"]["text"] == "original"


async def test_reply_to_a_users_message(harness: Harness) -> None:
    answer = await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "/start"})
    [update] = await harness.ok("getUpdates")
    assert update["update_id"] == answer["update_id"]
    user_message = update["message"]
    reply = await harness.ok(
        "sendMessage",
        chat_id=42,
        text="welcome",
        reply_parameters={"message_id": user_message["message_id"]},
    )
    assert reply["reply_to_message"] == user_message


BAD_KEYBOARDS = [
    (
        {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]},
        "Bad Request: BUTTON_DATA_INVALID",
    ),
    (
        {"inline_keyboard": [[{"text": "only text"}]]},
        "Bad Request: can't parse inline keyboard button: "
        "Text buttons are unallowed in the inline keyboard",
    ),
    (
        {"inline_keyboard": [[{"callback_data": "x"}]]},
        'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String',
    ),
    (
        {"inline_keyboard": [{"text": "x", "callback_data": "x"}]},
        'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array '
        "of Arrays",
    ),
    (
        {"inline_keyboard": [[{"text": "x", "url": "not a url"}]]},
        "Bad Request: inline keyboard button URL 'not a url' is invalid: Wrong HTTP URL",
    ),
    (
        {"inline_keyboard": [[{"text": "x", "callback_data": "x"}] * 101]},
        "Bad Request: reply markup is too long",
    ),
    ("[1, 2]", "Bad Request: can't parse reply keyboard markup JSON object"),
]


@pytest.mark.parametrize(("markup", "description"), BAD_KEYBOARDS)
async def test_bad_keyboards_are_rejected_before_anything_else(
    make_harness: MakeHarness, markup: Any, description: str
) -> None:
    harness: Harness = await make_harness(private_chat_interval=1.0)
    await harness.private_chat(42)
    assert await error_of(harness, "sendMessage", chat_id=42, text="x", reply_markup=markup) == (
        400,
        description,
    )
    # neither a rate-limit slot nor a message id was used
    first = await harness.ok("sendMessage", chat_id=42, text="ok")
    assert first["message_id"] == 1
    assert (await stats(harness))["rejected_429"] == 0


async def test_callback_data_of_64_bytes_and_url_buttons_are_fine(harness: Harness) -> None:
    await harness.private_chat(42)
    keyboard = {
        "inline_keyboard": [
            [{"text": "a", "callback_data": "é" * 32}],
            [{"text": "b", "url": "https://example.org/x"}],
        ]
    }
    sent = await harness.ok("sendMessage", chat_id=42, text="x", reply_markup=keyboard)
    assert sent["reply_markup"] == keyboard


@pytest.mark.parametrize(
    ("entities", "description"),
    [
        (
            [{"type": "bold", "offset": 0}],
            'Bad Request: can\'t parse MessageEntity: Field "length" must be of type Integer',
        ),
        (
            [{"type": "shiny", "offset": 0, "length": 1}],
            "Bad Request: can't parse MessageEntity: Unsupported type specified",
        ),
        (
            [{"type": "bold", "offset": 3, "length": 5}],
            "Bad Request: entity beginning is out of text",
        ),
        ({"type": "bold"}, "Bad Request: can't parse entities JSON object"),
    ],
)
async def test_malformed_entities(harness: Harness, entities: Any, description: str) -> None:
    await harness.private_chat(42)
    assert await error_of(harness, "sendMessage", chat_id=42, text="four", entities=entities) == (
        400,
        description,
    )


async def test_missing_required_parameters(harness: Harness) -> None:
    await harness.private_chat(42)
    assert await error_of(harness, "sendMessage", chat_id=42) == (
        400,
        "Bad Request: message text is empty",
    )
    assert await error_of(harness, "deleteMessage", chat_id=42) == (
        400,
        "Bad Request: message identifier is not specified",
    )
    assert await error_of(harness, "editMessageText", message_id=1, text="x") == (
        400,
        "Bad Request: chat_id is empty",
    )


async def test_edit_message_text_and_markup(harness: Harness) -> None:
    await harness.private_chat(42)
    sent = await harness.ok("sendMessage", chat_id=42, text="Reminder", reply_markup=SNOOZE)
    ref = {"chat_id": 42, "message_id": sent["message_id"]}
    edited = await harness.ok(
        "editMessageText", **ref, text="<i>Snoozed</i>", parse_mode="HTML", reply_markup=SNOOZE
    )
    assert edited["text"] == "Snoozed"
    assert edited["entities"] == [{"type": "italic", "offset": 0, "length": 7}]
    assert edited["reply_markup"] == SNOOZE
    assert isinstance(edited["edit_date"], int)
    assert await error_of(
        harness,
        "editMessageText",
        **ref,
        text="<i>Snoozed</i>",
        parse_mode="HTML",
        reply_markup=SNOOZE,
    ) == (
        400,
        "Bad Request: message is not modified: specified new message content and reply "
        "markup are exactly the same as a current content and reply markup of the message",
    )
    without_keyboard = await harness.ok("editMessageReplyMarkup", **ref)
    assert "reply_markup" not in without_keyboard
    assert (await error_of(harness, "editMessageReplyMarkup", **ref))[1].startswith(
        "Bad Request: message is not modified"
    )
    back = await harness.ok("editMessageReplyMarkup", **ref, reply_markup=SNOOZE)
    assert back["reply_markup"] == SNOOZE
    # an edit of the text without reply_markup removes the keyboard, as Telegram does
    plain = await harness.ok("editMessageText", **ref, text="Done")
    assert "reply_markup" not in plain
    assert "entities" not in plain
    shown = (await harness.client.get(f"/_emulator/chats/42/messages/{sent['message_id']}")).json()
    assert shown["text"] == "Done"
    [logged] = (await harness.client.get(f"/_emulator/bots/{BOT_ID}/sent")).json()["messages"]
    assert logged["text"] == "Done"
    assert (await stats(harness))["edited_total"] == 4


async def test_edit_errors(harness: Harness) -> None:
    await harness.private_chat(42)
    photo = await harness.ok("sendPhoto", chat_id=42, photo="https://e.org/a.jpg")
    assert await error_of(harness, "editMessageText", chat_id=42, message_id=77, text="x") == (
        400,
        "Bad Request: message to edit not found",
    )
    assert await error_of(
        harness, "editMessageText", chat_id=42, message_id=photo["message_id"], text="x"
    ) == (400, "Bad Request: there is no text in the message to edit")
    captioned = await harness.ok(
        "editMessageCaption", chat_id=42, message_id=photo["message_id"], caption="new"
    )
    assert captioned["caption"] == "new"
    await harness.control("/messages", {"bot_id": BOT_ID, "chat_id": 42, "text": "mine"})
    [update] = await harness.ok("getUpdates")
    users = update["message"]["message_id"]
    assert await error_of(harness, "editMessageText", chat_id=42, message_id=users, text="x") == (
        400,
        "Bad Request: message can't be edited",
    )
    keyboard_kinds = {"keyboard": [["a"]]}
    assert await error_of(
        harness,
        "editMessageReplyMarkup",
        chat_id=42,
        message_id=photo["message_id"],
        reply_markup=keyboard_kinds,
    ) == (400, "Bad Request: inline keyboard expected")


async def test_delete_message(harness: Harness) -> None:
    await harness.private_chat(42)
    sent = await harness.ok("sendMessage", chat_id=42, text="bye")
    ref = {"chat_id": 42, "message_id": sent["message_id"]}
    assert await harness.ok("deleteMessage", **ref) is True
    assert await error_of(harness, "deleteMessage", **ref) == (
        400,
        "Bad Request: message to delete not found",
    )
    assert await error_of(harness, "editMessageText", **ref, text="x") == (
        400,
        "Bad Request: message to edit not found",
    )
    [logged] = (await harness.client.get(f"/_emulator/bots/{BOT_ID}/sent")).json()["messages"]
    assert logged["deleted"] is True
    gone = await harness.client.get(f"/_emulator/chats/42/messages/{sent['message_id']}")
    assert gone.status_code == 404
    assert (await stats(harness))["deleted_total"] == 1


async def test_deleting_others_messages_in_a_group_needs_admin(harness: Harness) -> None:
    group = await harness.control("/chats", {"type": "supergroup", "title": "G"})
    await harness.control(
        "/messages", {"bot_id": BOT_ID, "chat_id": group["id"], "text": "hey", "from_id": 5}
    )
    [update] = await harness.ok("getUpdates")
    ref = {"chat_id": group["id"], "message_id": update["message"]["message_id"]}
    assert await error_of(harness, "deleteMessage", **ref) == (
        400,
        "Bad Request: message can't be deleted",
    )
    await harness.control(
        f"/chats/{group['id']}/members", {"bot_id": BOT_ID, "status": "administrator"}
    )
    assert await harness.ok("deleteMessage", **ref) is True


async def test_pressing_a_button_and_answering_it(harness: Harness) -> None:
    await harness.private_chat(42, first_name="Ann")
    sent = await harness.ok("sendMessage", chat_id=42, text="Reminder", reply_markup=SNOOZE)
    pressed = await harness.control(
        "/callbacks",
        {"bot_id": BOT_ID, "chat_id": 42, "message_id": sent["message_id"], "data": "snooze:15m"},
    )
    [update] = await harness.ok("getUpdates")
    query = update["callback_query"]
    assert update["update_id"] == pressed["update_id"]
    assert query["id"] == pressed["callback_query_id"]
    assert query["from"] == {"id": 42, "is_bot": False, "first_name": "Ann"}
    assert query["message"] == sent
    assert query["data"] == "snooze:15m"
    assert isinstance(query["chat_instance"], str)
    answered = await harness.ok(
        "answerCallbackQuery", callback_query_id=query["id"], text="Snoozed"
    )
    assert answered is True
    record = (await harness.client.get(f"/_emulator/callbacks/{query['id']}")).json()
    assert record["answered"] is True
    assert record["answer"]["text"] == "Snoozed"
    invalid = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert await error_of(harness, "answerCallbackQuery", callback_query_id=query["id"]) == (
        400,
        invalid,
    )
    assert await error_of(harness, "answerCallbackQuery", callback_query_id="123") == (
        400,
        invalid,
    )


async def test_only_existing_buttons_can_be_pressed(harness: Harness) -> None:
    await harness.private_chat(42)
    sent = await harness.ok("sendMessage", chat_id=42, text="Reminder", reply_markup=SNOOZE)
    for body in (
        {"message_id": sent["message_id"], "data": "other"},
        {"message_id": 999, "data": "snooze:15m"},
    ):
        response = await harness.client.post(
            "/_emulator/callbacks", json={"bot_id": BOT_ID, "chat_id": 42} | body
        )
        assert response.status_code in (400, 404)

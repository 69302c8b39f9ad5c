"""Checks Telegram makes on a request's structured parameters before it does anything else.

Pure functions over already-read parameters: a request they reject never reaches a chat,
a rate-limit slot or a message id.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chime_emulator.errors import bad_request
from chime_emulator.formatting import apply_parse_mode, utf16_length
from chime_emulator.params import Params, get_bool, get_int, get_json, get_str

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_KEYBOARD_BUTTONS = 100

ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)
# Exactly one of these makes an inline button do something; text alone is not allowed.
INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
URL_SCHEMES = frozenset({"http", "https", "tg", "ton"})
MARKUP_KINDS = ("inline_keyboard", "keyboard", "remove_keyboard", "force_reply")


@dataclass(frozen=True)
class ReplyTo:
    message_id: int
    chat_id: int | str | None
    allow_sending_without_reply: bool


def _entity_error(reason: str) -> Exception:
    return bad_request(f"can't parse MessageEntity: {reason}")


def _integer(entity: dict[str, Any], name: str) -> int:
    number = entity.get(name)
    if not isinstance(number, int) or isinstance(number, bool):
        raise _entity_error(f'Field "{name}" must be of type Integer')
    return number


def check_entities(value: Any, text: str, field_name: str) -> list[dict[str, Any]]:
    """Given entities must be MessageEntity objects lying inside the text."""
    if not isinstance(value, list):
        raise bad_request(f"can't parse {field_name} JSON object")
    length = utf16_length(text)
    for entity in value:
        if not isinstance(entity, dict):
            raise _entity_error("MessageEntity must be an Object")
        kind = entity.get("type")
        if not isinstance(kind, str):
            raise _entity_error('Field "type" must be of type String')
        if kind not in ENTITY_TYPES:
            raise _entity_error("Unsupported type specified")
        offset, size = _integer(entity, "offset"), _integer(entity, "length")
        if offset < 0 or size <= 0 or offset + size > length:
            raise bad_request("entity beginning is out of text")
        if kind == "text_link" and not isinstance(entity.get("url"), str):
            raise _entity_error('Field "url" must be of type String')
    return value


def formatted_text(
    params: Params, text_field: str, entities_field: str
) -> tuple[str, list[dict[str, Any]]]:
    """The text as Telegram stores it and its entities, from parse_mode or given entities."""
    raw = get_str(params, text_field) or ""
    given = get_json(params, entities_field)
    if given is not None:
        return raw, check_entities(given, raw, entities_field)
    return apply_parse_mode(raw, get_str(params, "parse_mode"))


def message_text(params: Params) -> tuple[str, list[dict[str, Any]]]:
    if not (get_str(params, "text") or "").strip():
        raise bad_request("message text is empty")
    text, entities = formatted_text(params, "text", "entities")
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise bad_request("message is too long")
    return text, entities


def caption(params: Params) -> tuple[str, list[dict[str, Any]]]:
    text, entities = formatted_text(params, "caption", "caption_entities")
    if len(text) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return text, entities


def _button_error(reason: str) -> Exception:
    return bad_request(f"can't parse inline keyboard button: {reason}")


def _check_url(url: Any) -> None:
    if not isinstance(url, str):
        raise _button_error('Field "url" must be of type String')
    parts = urlsplit(url)
    if parts.scheme.lower() not in URL_SCHEMES or not (parts.netloc or parts.path):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str):
        raise _button_error('Field "text" must be of type String')
    actions = [name for name in INLINE_BUTTON_ACTIONS if button.get(name) is not None]
    if not actions:
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    if "url" in actions:
        _check_url(button["url"])
    data = button.get("callback_data")
    if data is not None:
        if not isinstance(data, str):
            raise _button_error('Field "callback_data" must be of type String')
        if not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")


def _rows(markup: dict[str, Any], field_name: str, kind: str) -> list[list[Any]]:
    rows = markup[field_name]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f'field "{field_name}" of the {kind} must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_KEYBOARD_BUTTONS:
        raise bad_request("reply markup is too long")
    return rows


def reply_markup(params: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
    """The reply_markup, checked the way Telegram checks it; None when absent."""
    markup = get_json(params, "reply_markup")
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    kind = next((name for name in MARKUP_KINDS if name in markup), None)
    if kind is None or (inline_only and kind != "inline_keyboard"):
        if inline_only:
            raise bad_request("inline keyboard expected")
        raise bad_request('can\'t find field "inline_keyboard"')
    if kind == "inline_keyboard":
        rows = _rows(markup, kind, "InlineKeyboardMarkup")
        for row in rows:
            for button in row:
                _check_inline_button(button)
        if not any(rows):
            return None  # an empty inline keyboard is no keyboard
    elif kind == "keyboard":
        for row in _rows(markup, kind, "ReplyKeyboardMarkup"):
            for button in row:
                if not isinstance(button, str) and not (
                    isinstance(button, dict) and isinstance(button.get("text"), str)
                ):
                    raise bad_request(
                        'can\'t parse keyboard button: Field "text" must be of type String'
                    )
    return markup


def inline_keyboard(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup = message.get("reply_markup")
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard")
    return rows if isinstance(rows, list) else []


def reply_to(params: Params) -> ReplyTo | None:
    """reply_parameters, or the older reply_to_message_id/allow_sending_without_reply."""
    value = get_json(params, "reply_parameters")
    if value is not None and value != "":
        if not isinstance(value, dict):
            raise bad_request("can't parse reply parameters JSON object")
        message_id = value.get("message_id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise bad_request(
                'can\'t parse reply parameters: Field "message_id" must be of type Integer'
            )
        chat_id = value.get("chat_id")
        if chat_id is not None and not isinstance(chat_id, int | str):
            raise bad_request(
                'can\'t parse reply parameters: Field "chat_id" must be of type Integer or String'
            )
        allow = value.get("allow_sending_without_reply") is True
        return ReplyTo(message_id, chat_id, allow)
    legacy = get_int(params, "reply_to_message_id")
    if legacy is None:
        return None
    return ReplyTo(legacy, None, get_bool(params, "allow_sending_without_reply"))

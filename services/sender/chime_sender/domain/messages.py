"""A request as the Bot API call it becomes: the rendered text, the method and the options.

Templates: `{name}` placeholders in the text are filled with the request's variables, each
escaped for the parse mode; the template itself is trusted and never escaped. A placeholder
with no variable is kept as written.
"""

from __future__ import annotations

from string import Formatter
from typing import Any

from chime_contracts.events import SendRequested
from chime_contracts.events.shared import InlineButton, Media
from chime_sender.domain.deliveries import Delivery
from chime_sender.domain.formatting import (
    MAX_MESSAGE_UTF16,
    escape_html,
    escape_markdown_v2,
    message_parts,
)
from chime_sender.domain.markup import split_formatted

MEDIA_METHODS = {"photo": "sendPhoto", "document": "sendDocument"}


def escape(value: str, parse_mode: str | None) -> str:
    if parse_mode == "HTML":
        return escape_html(value)
    if parse_mode == "MarkdownV2":
        return escape_markdown_v2(value)
    return value


def render(template: str, variables: dict[str, str] | None, parse_mode: str | None) -> str:
    if not variables:
        return template
    out: list[str] = []
    for literal, name, spec, conversion in Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name in variables:
            out.append(escape(variables[name], parse_mode))
        else:  # not ours to fill: kept as written
            tail = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            out.append("{" + name + tail + "}")
    return "".join(out)


def keyboard(buttons: list[list[InlineButton]]) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [b.model_dump(exclude_none=True, include={"text", "url", "callback_data"}) for b in row]
            for row in buttons
        ]
    }


def options_of(
    *,
    buttons: list[list[InlineButton]] | None,
    media: Media | None,
    disable_notification: bool,
    protect_content: bool,
    disable_link_preview: bool,
) -> tuple[str, dict[str, Any]]:
    """The Bot API method and what it adds to the payload beyond chat, text and parse mode."""
    options: dict[str, Any] = {}
    if buttons is not None:
        options["reply_markup"] = keyboard(buttons)
    if disable_notification:
        options["disable_notification"] = True
    if protect_content:
        options["protect_content"] = True
    if disable_link_preview and media is None:
        options["link_preview_options"] = {"is_disabled": True}
    if media is None:
        return "sendMessage", options
    options[media.kind] = media.file
    return MEDIA_METHODS[media.kind], options


def rendered(request: SendRequested) -> tuple[str, str, dict[str, Any]]:
    method, options = options_of(
        buttons=request.buttons,
        media=request.media,
        disable_notification=request.disable_notification,
        protect_content=request.protect_content,
        disable_link_preview=request.disable_link_preview,
    )
    return render(request.text, request.variables, request.parse_mode), method, options


CAPTION_UTF16 = 1024
# Calls on a message already sent: never split, they name it in their options.
EDIT_METHODS = ("editMessageText", "editMessageReplyMarkup", "deleteMessage")


def parts_of(text: str, method: str, parse_mode: str | None = None) -> list[str]:
    """The texts one delivery is sent as, each well-formed in its parse mode: a caption
    holds less than a message; blank parts (Telegram refuses them) go."""
    if method in EDIT_METHODS:
        return [text]
    media = method in MEDIA_METHODS.values()
    limit = CAPTION_UTF16 if media else MAX_MESSAGE_UTF16
    if parse_mode is None:
        return message_parts(text, limit)
    return [p for p in split_formatted(text, parse_mode, limit) if p.strip()] or [text]


def payload_of(delivery: Delivery, part: int, parts: list[str]) -> tuple[str, dict[str, Any]]:
    """Part `part` (0-based) of the delivery as a Bot API call: the media goes with the first
    part (its caption), the keyboard with the last; every part keeps the flags."""
    options = dict(delivery.options)
    if delivery.method in EDIT_METHODS:
        change: dict[str, Any] = {"chat_id": delivery.chat_id, **options}
        if delivery.method == "editMessageText":
            change["text"] = parts[0]
            if delivery.parse_mode:
                change["parse_mode"] = delivery.parse_mode
        return delivery.method, change
    markup = options.pop("reply_markup", None)
    first, last = part == 0, part == len(parts) - 1
    method = delivery.method if first else "sendMessage"
    if not first:
        for kind in MEDIA_METHODS:
            options.pop(kind, None)
    text_field = "text" if method == "sendMessage" else "caption"
    payload: dict[str, Any] = {"chat_id": delivery.chat_id, text_field: parts[part], **options}
    if delivery.parse_mode:
        payload["parse_mode"] = delivery.parse_mode
    if first and delivery.reply_to_message_id is not None:
        payload["reply_parameters"] = {
            "message_id": delivery.reply_to_message_id,
            "allow_sending_without_reply": True,
        }
    if last and markup is not None:
        payload["reply_markup"] = markup
    return method, payload

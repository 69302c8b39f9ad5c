"""What an incoming Telegram update is, checked before anything acts on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class NotAnUpdate(ValueError):
    """The body is not a Telegram update at all (no usable update_id, or not storable)."""


# The Bot API's types (its machine-readable spec): chat and user ids "have at most 52
# significant bits"; other Integers, message ids among them, are 32-bit.
TelegramId = Annotated[int, Field(ge=-(2**52 - 1), le=2**52 - 1)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
# Telegram's update ids stay below 2**31; any the log can key (bigint) is taken, so that a
# larger one would not stall a bot's stream on a 400.
MAX_UPDATE_ID = 2**63 - 1
# Real updates nest about 5 levels (the deepest sample); orjson cannot write past 254.
MAX_DEPTH = 32
_NUL = "\x00"
_REPLACEMENT = "\ufffd"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Chat(_Lenient):
    id: TelegramId
    type: str


class User(_Lenient):
    id: TelegramId
    is_bot: bool = False
    first_name: str = ""
    username: str | None = None
    language_code: str | None = None


class Message(_Lenient):
    message_id: Int32
    date: Annotated[int, Field(ge=0, le=2**63 - 1)]
    chat: Chat
    from_: User | None = Field(default=None, alias="from")
    text: str | None = None


class ChatMemberUpdated(_Lenient):
    chat: Chat
    date: Annotated[int, Field(ge=0, le=2**63 - 1)]


# The kinds ingest acts on, and the model each must satisfy; others are stored as received.
_CHECKED: dict[str, type[_Lenient]] = {
    "message": Message,
    "edited_message": Message,
    "channel_post": Message,
    "my_chat_member": ChatMemberUpdated,
}


# Every kind of Update in Bot API 10.1. A body carrying exactly one of them is an update.
KNOWN_KINDS = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post",
        "business_connection", "business_message", "edited_business_message",
        "deleted_business_messages", "guest_message", "message_reaction",
        "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query",
        "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
        "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
        "removed_chat_boost", "managed_bot",
    }
)  # fmt: skip


class Update(_Lenient):
    update_id: int
    kind: str
    message: Message | None = None
    chat_id: int | None = None
    user_id: int | None = None


def update_id_of(body: Any) -> int:
    if not isinstance(body, dict):
        raise NotAnUpdate("an update is a JSON object")
    update_id = body.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise NotAnUpdate("an update needs an integer update_id")
    if not 0 <= update_id <= MAX_UPDATE_ID:
        raise NotAnUpdate(f"update_id must be from 0 to {MAX_UPDATE_ID}")
    return update_id


def parse_update(raw: bytes) -> Any:
    """A webhook body as JSON, for `incoming` to check; NotAnUpdate when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson stops at 1,024 levels
            raise NotAnUpdate(f"nested deeper than {MAX_DEPTH} levels") from None
        raise NotAnUpdate(f"body is not JSON: {exc}") from None


def screened(body: Any) -> dict[str, Any]:
    """The body as ingest stores it, or NotAnUpdate when it cannot be an update.

    Checked before any model reads it: an update_id the log can key, at most MAX_DEPTH
    levels, integers of at most 64 bits (what JSON encoders and PostgreSQL take). U+0000,
    which PostgreSQL cannot store in text or jsonb, is replaced by U+FFFD: no Telegram
    client sends it, and dropping the update would lose whatever else it says.
    """
    update_id_of(body)
    cleaned: dict[str, Any] = _cleaned(body, 1)
    return cleaned


def _cleaned(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, _REPLACEMENT) if _NUL in value else value
    if isinstance(value, bool) or not isinstance(value, (dict, list, int)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise NotAnUpdate("an integer wider than 64 bits")
        return value
    if depth > MAX_DEPTH:
        raise NotAnUpdate(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [_cleaned(v, depth + 1) for v in value]
    return {_cleaned(k, depth): _cleaned(v, depth + 1) for k, v in value.items()}


def _plain(raw: bytes) -> bool:
    """True when what orjson parsed from `raw` is already as `screened` would leave it: no
    escaped NUL, too few brackets to nest past MAX_DEPTH, and integers within 64 bits (orjson
    reads wider ones as floats). Most updates are; the walk is spared for them."""
    return b"\\u0000" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH


def kind_of(body: dict[str, Any]) -> str:
    kinds = [k for k in body if k != "update_id"]
    return kinds[0] if len(kinds) == 1 else "unknown"


def check_update(body: dict[str, Any]) -> Update:
    """Validate the parts Chime reads; raise ValueError with a reason otherwise."""
    update_id = update_id_of(body)
    kind = kind_of(body)
    if kind not in KNOWN_KINDS:
        raise ValueError(f"not a known kind of update: {sorted(set(body) - {'update_id'})}")
    model = _CHECKED.get(kind)
    if model is None:
        return Update(update_id=update_id, kind=kind)
    try:
        part = model.model_validate(body[kind])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{kind}.{where}: {first['msg']}") from None
    if isinstance(part, Message):
        return Update(
            update_id=update_id,
            kind=kind,
            message=part,
            chat_id=part.chat.id,
            user_id=part.from_.id if part.from_ else None,
        )
    assert isinstance(part, ChatMemberUpdated)
    return Update(update_id=update_id, kind=kind, chat_id=part.chat.id)


# What a bigint column keys: a chat or user id beyond it is not Telegram's, so it is not kept.
_BIGINT = range(-(2**63), 2**63)


@dataclass(frozen=True, slots=True)
class Incoming:
    """An update as ingest receives it, checked once: the webhook and polling both make
    one with `incoming`, and nothing checks it again before it is stored."""

    update_id: int
    kind: str
    payload: dict[str, Any]
    chat_id: int | None
    user_id: int | None
    # Why Chime cannot act on it (kept as rejected, never interpreted); None: accepted.
    reason: str | None = None


def incoming(body: Any, raw: bytes | None = None) -> Incoming:
    """`body` screened and checked; NotAnUpdate when it cannot be an update at all. `raw`:
    the bytes `body` was parsed from by orjson, when it was."""
    if raw is not None and _plain(raw):
        update_id_of(body)
        cleaned: dict[str, Any] = body
    else:
        cleaned = screened(body)
    try:
        update = check_update(cleaned)
    except ValueError as exc:
        chat_id, user_id = parties_of(cleaned)
        return Incoming(
            update_id_of(cleaned), kind_of(cleaned), cleaned, chat_id, user_id, reason=str(exc)
        )
    chat_id, user_id = parties_of(cleaned)
    return Incoming(
        update.update_id,
        update.kind,
        cleaned,
        update.chat_id if update.chat_id is not None else chat_id,
        update.user_id if update.user_id is not None else user_id,
    )


def parties_of(body: dict[str, Any]) -> tuple[int | None, int | None]:
    """The chat and the user an update of any kind comes from, where it names them: the
    chat orders a chat's updates, so a callback query counts in its message's chat."""
    part = body.get(kind_of(body))
    if not isinstance(part, dict):
        return None, None
    chat = _id_at(part, "chat")
    if chat is None:
        message = part.get("message")
        chat = _id_at(message, "chat") if isinstance(message, dict) else None
    user = _id_at(part, "from")
    if user is None:
        user = _id_at(part, "user")
    return chat, user


def _id_at(part: dict[str, Any], key: str) -> int | None:
    value = part.get(key)
    found = value.get("id") if isinstance(value, dict) else None
    if isinstance(found, int) and not isinstance(found, bool) and found in _BIGINT:
        return found
    return None

"""What an incoming Telegram update is, checked before anything acts on it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class NotAnUpdate(ValueError):
    """The body is not a Telegram update at all (no integer update_id)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Chat(_Lenient):
    id: int
    type: str


class User(_Lenient):
    id: int
    is_bot: bool = False
    first_name: str = ""
    username: str | None = None
    language_code: str | None = None


class Message(_Lenient):
    message_id: int
    date: int
    chat: Chat
    from_: User | None = Field(default=None, alias="from")
    text: str | None = None


class ChatMemberUpdated(_Lenient):
    chat: Chat
    date: int


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
    return update_id


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

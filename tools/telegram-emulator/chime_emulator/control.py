"""The /_emulator control API that tests and the demo use to drive the fake Telegram."""

import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from chime_emulator import updates
from chime_emulator.emulator import REGISTERED_TOKEN, Emulator, now_epoch
from chime_emulator.faults import FaultMode, make_rule
from chime_emulator.jsonio import dump_json
from chime_emulator.state import (
    ACTIVE_STATUSES,
    Bot,
    CallbackQuery,
    Chat,
    StoredMessage,
    User,
)
from chime_emulator.validation import inline_keyboard

# Who adds, removes or upgrades when a request does not say: the chat's owner.
OWNER_ID = 100_000_000
# The sender of a supergroup's first message after a migration, as Telegram shows it.
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}


class BotIn(BaseModel):
    token: str
    username: str | None = None
    first_name: str | None = None
    privacy_mode: bool | None = None
    require_start: bool | None = None


class ChatIn(BaseModel):
    type: Literal["private", "group", "supergroup", "channel"]
    id: int | None = None
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language_code: str | None = None
    is_forum: bool | None = None


class BotRef(BaseModel):
    bot_id: int | None = None
    token: str | None = None
    wait: bool = False


class MessageIn(BotRef):
    chat_id: int
    text: str
    from_id: int | None = None
    message_thread_id: int | None = None
    reply_to_message_id: int | None = None


class RawUpdateIn(BotRef):
    update: Any


class CallbackIn(BotRef):
    chat_id: int
    message_id: int
    data: str
    from_id: int | None = None


class MembershipIn(BotRef):
    status: Literal["member", "administrator", "left", "kicked"]
    from_id: int | None = None


class MigrationIn(BaseModel):
    supergroup_id: int | None = Field(default=None, lt=0)
    from_id: int | None = None
    wait: bool = False


class EditIn(BotRef):
    text: str


class UserIn(BaseModel):
    deactivated: bool


class UserRef(BaseModel):
    user_id: int
    wait: bool = False


class FaultIn(BaseModel):
    mode: FaultMode
    status: Literal[500, 502, 503] | None = None
    delay_s: float | None = Field(default=None, ge=0)
    methods: list[str] | None = None
    bot_id: int | None = None
    count: int | None = Field(default=None, ge=1)


def _bot_info(bot: Bot) -> dict[str, Any]:
    return {
        "id": bot.id,
        "username": bot.username,
        "first_name": bot.first_name,
        "token": bot.token,
        "privacy_mode": bot.privacy_mode,
        "require_start": bot.require_start,
    }


def default_status(chat: Chat) -> str:
    """What a bot never added or removed counts as: a member, an admin of a channel."""
    return "administrator" if chat.type == "channel" else "member"


def incoming_service_message(
    chat: Chat, sender: dict[str, Any], content: dict[str, Any]
) -> dict[str, Any]:
    message = updates.message(
        message_id=chat.next_message_id(),
        date=now_epoch(),
        chat=chat,
        text=None,
        sender=sender,
        content=content,
    )
    return {"message": message}


def find_bot_of(emulator: Emulator, bot_id: int | None, token: str | None = None) -> Bot:
    bot = (
        emulator.state.bots_by_token.get(token)
        if token is not None
        else emulator.state.bots_by_id.get(bot_id or 0)
    )
    if bot is None:
        raise HTTPException(404, "bot not found")
    return bot


async def inject_message(emulator: Emulator, body: MessageIn) -> dict[str, Any]:
    """A user's (or a channel's) text message to a bot; the hot path of benches."""
    bot = find_bot_of(emulator, body.bot_id, body.token)
    state = emulator.state
    chat = state.chats.get(body.chat_id)
    if chat is None and body.chat_id > 0:
        chat = state.private_chat(state.user(body.chat_id))
    if chat is None:
        raise HTTPException(404, "chat not found")
    sender_id = body.from_id if body.from_id is not None else chat.id
    if chat.type != "private" and body.from_id is None and chat.type != "channel":
        raise HTTPException(400, "from_id is required for group messages")
    if chat.migrated_to is not None:
        raise HTTPException(400, f"the group was upgraded to {chat.migrated_to}")
    if chat.type != "private":
        if chat.members.get(bot.id) in ("left", "kicked"):
            raise HTTPException(400, "the bot is not in this chat")
        chat.members.setdefault(bot.id, default_status(chat))
    replied: StoredMessage | None = None
    if body.reply_to_message_id is not None:
        replied = chat.messages.get(body.reply_to_message_id)
        if replied is None:
            raise HTTPException(404, "no message with reply_to_message_id in the chat")
    update = updates.incoming_message_update(
        chat=chat,
        sender=None if chat.type == "channel" else state.user(sender_id),
        text=body.text,
        date=now_epoch(),
        message_thread_id=body.message_thread_id,
        reply_to_message=None if replied is None else updates.quoted(replied),
    )
    message = next(iter(update.values()))
    chat.messages[message["message_id"]] = StoredMessage(message, None, time.time())
    if chat.type == "private":
        bot.started_by.add(chat.id)
    if not reaches_bot(bot, chat, body.text, replied):
        return {"update_id": None, "delivery": "filtered"}
    return await emulator.deliver(bot, update, wait=body.wait)


def reaches_bot(bot: Bot, chat: Chat, text: str, replied: StoredMessage | None) -> bool:
    """Privacy mode: in a group, a bot that is not an administrator gets only commands for
    it and replies to its own messages."""
    if not bot.privacy_mode or chat.type not in ("group", "supergroup"):
        return True
    if chat.members.get(bot.id) == "administrator":
        return True
    replied_to_bot = replied is not None and replied.bot_id == bot.id
    return replied_to_bot or updates.is_command_for(text, bot.username)


def build_router(emulator: Emulator) -> APIRouter:
    router = APIRouter(prefix="/_emulator")

    def find_bot(bot_id: int | None, token: str | None = None) -> Bot:
        return find_bot_of(emulator, bot_id, token)

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    @router.post("/bots")
    async def register_bot(body: BotIn) -> dict[str, Any]:
        if not REGISTERED_TOKEN.fullmatch(body.token):
            raise HTTPException(400, "token must look like <bot id>:<secret>")
        bot = emulator.state.register_bot(body.token, body.username, body.first_name)
        if body.privacy_mode is not None:
            bot.privacy_mode = body.privacy_mode
        if body.require_start is not None:
            bot.require_start = body.require_start
        return _bot_info(bot)

    @router.post("/chats")
    async def create_chat(body: ChatIn) -> dict[str, Any]:
        state = emulator.state
        chat_id = body.id if body.id is not None else state.new_chat_id(body.type)
        if (body.type == "private") != (chat_id > 0):
            raise HTTPException(400, "private chats need a positive id, the others a negative")
        if body.type == "private":
            first_name = body.first_name or f"User {chat_id}"
            user = User(chat_id, first_name, body.last_name, body.username, body.language_code)
            return state.private_chat(state.add_user(user)).to_api()
        chat = state.chats.get(chat_id) or Chat(chat_id, body.type)
        chat.type, chat.username, chat.is_forum = body.type, body.username, body.is_forum
        chat.title = body.title or chat.title or f"Chat {chat_id}"
        state.chats[chat_id] = chat
        return chat.to_api()

    @router.post("/messages")
    async def inject(body: MessageIn) -> dict[str, Any]:
        return await inject_message(emulator, body)

    @router.post("/updates")
    async def inject_raw_update(body: RawUpdateIn) -> dict[str, Any]:
        bot = find_bot(body.bot_id, body.token)
        return await emulator.deliver(bot, body.update, wait=body.wait)

    async def change_membership(bot_id: int, body: UserRef, blocked: bool) -> dict[str, Any]:
        bot = find_bot(bot_id)
        user = emulator.state.user(body.user_id)
        chat = emulator.state.private_chat(user)
        if blocked:
            bot.blocked_by.add(user.id)
        else:
            bot.blocked_by.discard(user.id)
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        update = updates.my_chat_member_update(
            bot=bot, chat=chat, user=user, old_status=old, new_status=new, date=now_epoch()
        )
        return await emulator.deliver(bot, update, wait=body.wait)

    @router.post("/bots/{bot_id}/block")
    async def block(bot_id: int, body: UserRef) -> dict[str, Any]:
        return await change_membership(bot_id, body, blocked=True)

    @router.post("/bots/{bot_id}/unblock")
    async def unblock(bot_id: int, body: UserRef) -> dict[str, Any]:
        return await change_membership(bot_id, body, blocked=False)

    @router.get("/bots/{bot_id}/sent")
    async def sent_messages(
        bot_id: int, chat_id: int | None = None, since_message_id: int | None = None
    ) -> Response:
        messages = [
            stored.to_control()
            for stored in find_bot(bot_id).sent
            if (chat_id is None or stored.message["chat"]["id"] == chat_id)
            and (since_message_id is None or stored.message["message_id"] > since_message_id)
        ]
        # Serialized at once: benches poll long lists, FastAPI's encoder would walk each.
        return Response(dump_json({"messages": messages}), media_type="application/json")

    def find_chat(chat_id: int) -> Chat:
        chat = emulator.state.chats.get(chat_id)
        if chat is None:
            raise HTTPException(404, "chat not found")
        return chat

    @router.get("/chats/{chat_id}/messages/{message_id}")
    async def chat_message(chat_id: int, message_id: int) -> dict[str, Any]:
        stored = find_chat(chat_id).messages.get(message_id)
        if stored is None:
            raise HTTPException(404, "message not found (never sent, or deleted)")
        return stored.to_control()

    @router.post("/chats/{chat_id}/messages/{message_id}/edit")
    async def edit_users_message(chat_id: int, message_id: int, body: EditIn) -> dict[str, Any]:
        bot = find_bot(body.bot_id, body.token)
        chat = find_chat(chat_id)
        stored = chat.messages.get(message_id)
        if stored is None or stored.bot_id is not None or "text" not in stored.message:
            raise HTTPException(404, "no text message of a user with that id in the chat")
        message = stored.message
        message["text"] = body.text
        message.pop("entities", None)
        if entities := updates.command_entities(body.text):
            message["entities"] = entities
        message["edit_date"] = now_epoch()
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        return await emulator.deliver(bot, {kind: dict(message)}, wait=body.wait)

    @router.post("/callbacks")
    async def press_button(body: CallbackIn) -> dict[str, Any]:
        bot = find_bot(body.bot_id, body.token)
        chat = find_chat(body.chat_id)
        stored = chat.messages.get(body.message_id)
        if stored is None or stored.bot_id != bot.id:
            raise HTTPException(404, "no message of this bot with that id in the chat")
        buttons = [button for row in inline_keyboard(stored.message) for button in row]
        if not any(button.get("callback_data") == body.data for button in buttons):
            raise HTTPException(400, "the message has no button with that callback_data")
        if body.from_id is None and chat.type != "private":
            raise HTTPException(400, "from_id is required outside private chats")
        user = emulator.state.user(body.from_id if body.from_id is not None else chat.id)
        query = CallbackQuery(
            emulator.state.new_callback_query_id(), bot.id, chat.id, body.message_id, body.data
        )
        emulator.state.callback_queries[query.id] = query
        update = {
            "callback_query": {
                "id": query.id,
                "from": user.to_api(),
                "message": dict(stored.message),
                "chat_instance": str(abs(chat.id) * 7919 + bot.id),
                "data": body.data,
            }
        }
        answer = await emulator.deliver(bot, update, wait=body.wait)
        return answer | {"callback_query_id": query.id}

    @router.get("/callbacks/{query_id}")
    async def callback_answer(query_id: str) -> dict[str, Any]:
        query = emulator.state.callback_queries.get(query_id)
        if query is None:
            raise HTTPException(404, "no such callback query")
        return query.to_control()

    @router.post("/chats/{chat_id}/members")
    async def change_bot_membership(chat_id: int, body: MembershipIn) -> dict[str, Any]:
        bot = find_bot(body.bot_id, body.token)
        chat = find_chat(chat_id)
        if chat.type == "private":
            raise HTTPException(400, "a user blocks a bot: POST /bots/{bot_id}/block")
        if chat.migrated_to is not None:
            raise HTTPException(400, f"the group was upgraded to {chat.migrated_to}")
        joining = body.status in ACTIVE_STATUSES
        old = chat.members.get(bot.id) or ("left" if joining else default_status(chat))
        chat.members[bot.id] = body.status
        user = emulator.state.user(body.from_id if body.from_id is not None else OWNER_ID)
        date = now_epoch()
        change = updates.my_chat_member_update(
            bot=bot, chat=chat, user=user, old_status=old, new_status=body.status, date=date
        )
        answers = [await emulator.deliver(bot, change, wait=body.wait)]
        if joining and old not in ACTIVE_STATUSES and chat.type != "channel":
            joined = incoming_service_message(
                chat, user.to_api(), {"new_chat_members": [bot.to_api()]}
            )
            answers.append(await emulator.deliver(bot, joined, wait=body.wait))
        return answers[0] | {"update_ids": [answer["update_id"] for answer in answers]}

    @router.post("/chats/{chat_id}/migrate")
    async def migrate_group(chat_id: int, body: MigrationIn) -> dict[str, Any]:
        state = emulator.state
        group = find_chat(chat_id)
        if group.type != "group" or group.migrated_to is not None:
            raise HTTPException(400, "only a basic group can be upgraded, once")
        new_id = body.supergroup_id or state.new_chat_id("supergroup")
        if new_id in state.chats:
            raise HTTPException(400, "a chat with that id exists")
        supergroup = Chat(new_id, "supergroup", title=group.title, username=group.username)
        supergroup.members = dict(group.members)
        state.chats[new_id] = supergroup
        group.migrated_to = new_id
        user = state.user(body.from_id if body.from_id is not None else OWNER_ID)
        to_update = incoming_service_message(group, user.to_api(), {"migrate_to_chat_id": new_id})
        from_update = incoming_service_message(
            supergroup,
            GROUP_ANONYMOUS_BOT,
            {"sender_chat": supergroup.to_api(), "migrate_from_chat_id": group.id},
        )
        notified = [
            state.bots_by_id[bot_id]
            for bot_id, status in group.members.items()
            if status in ACTIVE_STATUSES and bot_id in state.bots_by_id
        ]
        update_ids: dict[str, list[int]] = {}
        for bot in notified:
            for update in (to_update, from_update):
                answer = await emulator.deliver(bot, update, wait=body.wait)
                update_ids.setdefault(str(bot.id), []).append(answer["update_id"])
        return {"migrate_to_chat_id": new_id, "update_ids": update_ids}

    @router.post("/users/{user_id}")
    async def change_user(user_id: int, body: UserIn) -> dict[str, Any]:
        user = emulator.state.user(user_id)
        user.deactivated = body.deactivated
        return user.to_api() | {"deactivated": user.deactivated}

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return emulator.state.stats.to_api()

    @router.post("/faults")
    async def set_faults(body: FaultIn) -> dict[str, Any]:
        emulator.faults.rule = make_rule(
            body.mode,
            status=body.status,
            delay_s=body.delay_s,
            methods=body.methods,
            bot_id=body.bot_id,
            count=body.count,
        )
        return emulator.faults.to_api()

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        emulator.faults.rule = None
        return emulator.faults.to_api()

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        await emulator.reset()
        return {"ok": True}

    return router

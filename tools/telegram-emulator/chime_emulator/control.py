"""The /_emulator control API that tests and the demo use to drive the fake Telegram."""

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from chime_emulator import updates
from chime_emulator.emulator import REGISTERED_TOKEN, Emulator, now_epoch
from chime_emulator.faults import FaultMode, make_rule
from chime_emulator.state import Bot, Chat, User


class BotIn(BaseModel):
    token: str
    username: str | None = None
    first_name: str | None = None


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


class RawUpdateIn(BotRef):
    update: Any


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
    }


def build_router(emulator: Emulator) -> APIRouter:
    router = APIRouter(prefix="/_emulator")

    def find_bot(bot_id: int | None, token: str | None = None) -> Bot:
        bot = (
            emulator.state.bots_by_token.get(token)
            if token is not None
            else emulator.state.bots_by_id.get(bot_id or 0)
        )
        if bot is None:
            raise HTTPException(404, "bot not found")
        return bot

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    @router.post("/bots")
    async def register_bot(body: BotIn) -> dict[str, Any]:
        if not REGISTERED_TOKEN.fullmatch(body.token):
            raise HTTPException(400, "token must look like <bot id>:<secret>")
        return _bot_info(emulator.state.register_bot(body.token, body.username, body.first_name))

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
    async def inject_message(body: MessageIn) -> dict[str, Any]:
        bot = find_bot(body.bot_id, body.token)
        state = emulator.state
        chat = state.chats.get(body.chat_id)
        if chat is None and body.chat_id > 0:
            chat = state.private_chat(state.user(body.chat_id))
        if chat is None:
            raise HTTPException(404, "chat not found")
        sender_id = body.from_id if body.from_id is not None else chat.id
        if chat.type != "private" and body.from_id is None and chat.type != "channel":
            raise HTTPException(400, "from_id is required for group messages")
        update = updates.incoming_message_update(
            chat=chat,
            sender=None if chat.type == "channel" else state.user(sender_id),
            text=body.text,
            date=now_epoch(),
            message_thread_id=body.message_thread_id,
        )
        return await emulator.deliver(bot, update, wait=body.wait)

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
    ) -> dict[str, Any]:
        messages = [
            message
            for message in find_bot(bot_id).sent
            if (chat_id is None or message["chat"]["id"] == chat_id)
            and (since_message_id is None or message["message_id"] > since_message_id)
        ]
        return {"messages": messages}

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

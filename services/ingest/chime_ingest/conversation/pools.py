"""A /start on a bot of a pool: the chat's worker, chosen once and kept (sticky).

Ingest decides it on the stream `assignment-<pool>-<chat>` after the /start was recorded on
the chat's own stream; the rules are `domain/pools.py`.
"""

from __future__ import annotations

from chime_contracts.envelope import Event
from chime_ingest.conversation.chat import Chat, now
from chime_ingest.domain import pools, replies
from chime_ingest.domain.pools import ASSIGNMENT, Started
from chime_ingest.locale import Texts
from chime_ingest.ports import Pooling
from chime_kit.streams import decide


async def started(chat: Chat, pooling: Pooling, texts: Texts) -> str | None:
    """The reply that replaces the welcome (a deep link to the chat's worker), or None when
    the welcome is right: the bot is no pool's, the chat is no private one, or the bot is
    the chat's worker."""
    pool = pooling.pools.of_bot(chat.bot_id)
    if pool is None or not chat.private:
        return None
    front = chat.bot_id == pool.front
    # The workers a deep link can be made to (their username is known), by load.
    loads = await pooling.view.loads(pool.name, pool.workers) if front else {}
    start = Started(pool, chat.bot_id, chat.chat_id, chat.user_id or chat.chat_id, now())

    def decision(state: pools.Assignment) -> list[Event]:
        worker = pools.choose_worker(pool, loads, chat.chat_id) if front else chat.bot_id
        return pools.assign(state, start, worker)

    decided = await decide(
        chat.uow, pools.stream_id(pool.name, chat.chat_id), ASSIGNMENT, decision,
        project=pooling.view.apply,
    )  # fmt: skip
    worker = decided.after.worker
    if worker == chat.bot_id:
        return None
    username = await chat.view.bot_username(worker) if worker is not None else None
    if worker is None or username is None:
        return texts.say(replies.POOL_UNAVAILABLE)
    link = pools.deep_link(username, pools.encode_payload(pool.name, chat.chat_id))
    said = replies.POOL_LINK if front else replies.POOL_ELSEWHERE
    return texts.say(said, bot=username, link=link)

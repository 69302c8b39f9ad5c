"""/v1/topics: the topics a caller's chats are subscribed to, and subscribing them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from chime_api.adapters.schedules import PostgresRequests
from chime_api.domain.idempotency import StoredResponse
from chime_api.entrypoints.dependencies import ReadDep, ServiceDep, TopicsDep
from chime_api.entrypoints.idempotent import IdempotencyKey, respond_once
from chime_api.entrypoints.paging import Cursor, Limit, next_cursor, position
from chime_api.entrypoints.schedules import target_bot
from chime_api.entrypoints.schemas import TELEGRAM_ID, TOPIC_PATTERN, problems
from chime_api.handlers import schedules
from chime_kit.unit_of_work import UnitOfWork

PATH = "/v1/topics"
router = APIRouter(prefix=PATH, tags=["topics"], responses=problems(401, 403, 422))
Topic = Annotated[str, Path(pattern=TOPIC_PATTERN, examples=["outages"])]


class TopicOut(BaseModel):
    topic: str
    subscribers: int = Field(description="chats this caller subscribed, still subscribed")


class TopicList(BaseModel):
    items: list[TopicOut]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"chat_id": 42}]}
    )

    chat_id: int = Field(ge=-TELEGRAM_ID, le=TELEGRAM_ID)
    bot_id: int | None = Field(default=None, gt=0, le=TELEGRAM_ID)


class SubscriptionOut(BaseModel):
    topic: str
    bot_id: int
    chat_id: int
    subscribed: bool
    changed_at: datetime


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


@router.get("", response_model=TopicList, summary="Topics this key's owner has subscribers in")
async def list_topics(key: ReadDep, service: ServiceDep) -> TopicList:
    async with service.runtime.pool.acquire() as conn:
        topics = await schedules.list_topics(PostgresRequests(conn), key)
    return TopicList(items=[TopicOut(topic=t, subscribers=n) for t, n in topics])


@router.post(
    "/{topic}/subscriptions", status_code=202, response_model=SubscriptionOut,
    responses=problems(409),
)  # fmt: skip
async def subscribe(
    topic: Topic,
    body: SubscriptionIn,
    key: TopicsDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Subscribe a chat (subscribing it again changes nothing)."""
    bot_id = target_bot(body.bot_id, service.settings.default_bot_id)

    async def effect(uow: UnitOfWork) -> StoredResponse:
        await schedules.subscribe(
            uow, PostgresRequests(uow.conn), key, topic, bot_id, body.chat_id, subscribed=True
        )
        out = SubscriptionOut(
            topic=topic, bot_id=bot_id, chat_id=body.chat_id, subscribed=True,
            changed_at=datetime.now(UTC),
        )  # fmt: skip
        return StoredResponse(202, out.model_dump(mode="json"), {})

    path = f"{PATH}/{topic}/subscriptions"
    dumped = body.model_dump(mode="json")
    return await respond_once(service, key, idempotency_key, path, dumped, effect)


@router.get("/{topic}/subscriptions", response_model=SubscriptionPage)
async def list_subscriptions(
    topic: Topic, key: ReadDep, service: ServiceDep, cursor: Cursor = None, limit: Limit = 50
) -> SubscriptionPage:
    after = position(cursor)
    async with service.runtime.pool.acquire() as conn:
        rows, more = await schedules.list_subscriptions(
            PostgresRequests(conn), key, topic, limit, after
        )
    last = (rows[-1].changed_at, f"{rows[-1].bot_id}:{rows[-1].chat_id}") if rows else None
    items = [
        SubscriptionOut(**{k: getattr(r, k) for k in SubscriptionOut.model_fields}) for r in rows
    ]
    return SubscriptionPage(items=items, next_cursor=next_cursor(last, more))


@router.delete("/{topic}/subscriptions/{chat_id}", status_code=204)
async def unsubscribe(
    topic: Topic,
    chat_id: Annotated[int, Path(ge=-TELEGRAM_ID, le=TELEGRAM_ID)],
    key: TopicsDep,
    service: ServiceDep,
    bot_id: Annotated[int | None, Query(gt=0, le=TELEGRAM_ID)] = None,
) -> Response:
    """Unsubscribe a chat (unsubscribing it again changes nothing)."""
    bot = target_bot(bot_id, service.settings.default_bot_id)
    async with service.runtime.unit_of_work() as uow:
        await schedules.subscribe(
            uow, PostgresRequests(uow.conn), key, topic, bot, chat_id, subscribed=False
        )
    return Response(status_code=204)

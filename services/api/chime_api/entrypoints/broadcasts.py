"""/v1/broadcasts: one message to every current subscriber of a topic, now or at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from chime_api.adapters.recipients import PostgresRecipients
from chime_api.adapters.schedules import BroadcastRow, PostgresRequests
from chime_api.domain.idempotency import StoredResponse
from chime_api.domain.problems import ProblemError, closed, not_found
from chime_api.domain.recipients import Recipient, RecipientStatus
from chime_api.domain.schedules import BroadcastStatus, ClosedError
from chime_api.entrypoints.chats import chat_position
from chime_api.entrypoints.dependencies import BroadcastDep, ReadDep, ServiceDep
from chime_api.entrypoints.idempotent import IdempotencyKey, respond_once
from chime_api.entrypoints.paging import Cursor, Limit, next_cursor, position
from chime_api.entrypoints.schedules import target_bot
from chime_api.entrypoints.schemas import TELEGRAM_ID, TOPIC_PATTERN, problems
from chime_api.handlers import recipients, schedules
from chime_contracts.events.schedules import MessageTemplate
from chime_kit.unit_of_work import UnitOfWork

PATH = "/v1/broadcasts"
router = APIRouter(prefix=PATH, tags=["broadcasts"], responses=problems(401, 403, 422))


class BroadcastIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"topic": "outages", "message": {"text": "EU region degraded"}}]
        },
    )

    topic: str = Field(pattern=TOPIC_PATTERN)
    message: MessageTemplate
    at: AwareDatetime | None = Field(default=None, description="when; absent means now")
    bot_id: int | None = Field(default=None, gt=0, le=TELEGRAM_ID)
    paid_broadcast: bool = Field(default=False, description="past 30 messages/s, paid by stars")


class BroadcastOut(BaseModel):
    id: str
    status: BroadcastStatus = Field(
        description="requested (the scheduler starts it at `at`), running, finished, cancelled"
    )
    recipients: int | None = Field(default=None, description="subscribers when it started")
    handed: int = Field(default=0, description="handed to the sender so far")
    sent: int = 0
    failed: int = 0
    skipped: int = Field(default=0, description="blocked or stopped chats left out")
    started_at: datetime | None = None
    estimated_finish_at: datetime | None = Field(
        default=None, description="from Telegram's limits for the bot, updated as it goes"
    )
    finished_at: datetime | None = None
    topic: str
    bot_id: int
    message: dict[str, Any]
    at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: BroadcastRow) -> BroadcastOut:
        return cls(**{k: v for k, v in row.__dict__.items() if k in cls.model_fields})


class BroadcastPage(BaseModel):
    items: list[BroadcastOut]
    next_cursor: str | None


_RECIPIENT: JsonDict = {
    "chat_id": 123456789, "bot_id": 7, "status": "blocked",
    "reason": "chat blocked the bot: Forbidden: bot was blocked by the user", "error_code": 403,
    "delivery_id": "brd_01jdx9k3m2v8q7w6e5r4t3y2u1:0:123456789", "telegram_message_id": None,
    "created_at": "2026-11-30T09:00:00Z", "updated_at": "2026-11-30T09:00:04Z",
}  # fmt: skip


class RecipientOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RECIPIENT]})

    chat_id: int
    bot_id: int
    status: RecipientStatus = Field(
        description="pending (handed to the sender), sent, failed, blocked (Telegram refused:"
        " the chat blocked the bot), skipped (left out at the start: the chat had blocked the"
        " bot or stopped; `reason` says which)"
    )
    reason: str | None = Field(
        description="why it failed (the sender's reason and Telegram's), or why it was skipped"
        " (blocked, stopped)"
    )
    error_code: int | None = Field(description="Telegram's error code, if it answered one")
    delivery_id: str | None
    telegram_message_id: int | None
    created_at: datetime = Field(description="when the recipient became known")
    updated_at: datetime

    @classmethod
    def of(cls, row: Recipient) -> RecipientOut:
        return cls(**{k: v for k, v in row.__dict__.items() if k in cls.model_fields})


class RecipientPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_RECIPIENT], "next_cursor": None}]}
    )

    items: list[RecipientOut]
    next_cursor: str | None


async def accept_broadcast(
    uow: UnitOfWork, key: Any, bot_id: int, body: BroadcastIn
) -> StoredResponse:
    row = await schedules.create_broadcast(
        uow,
        PostgresRequests(uow.conn),
        key,
        bot_id,
        body.topic,
        body.message,
        body.at,
        body.paid_broadcast,
    )
    return StoredResponse(
        202, BroadcastOut.of(row).model_dump(mode="json"), {"Location": f"{PATH}/{row.id}"}
    )


@router.post("", status_code=202, response_model=BroadcastOut, responses=problems(409))
async def create_broadcast(
    body: BroadcastIn,
    key: BroadcastDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    bot_id = target_bot(body.bot_id, service.settings.default_bot_id)

    async def effect(uow: UnitOfWork) -> StoredResponse:
        return await accept_broadcast(uow, key, bot_id, body)

    dumped = body.model_dump(mode="json")
    return await respond_once(service, key, idempotency_key, PATH, dumped, effect)


@router.get("", response_model=BroadcastPage, summary="Broadcasts of this key's owner")
async def list_broadcasts(
    key: ReadDep,
    service: ServiceDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    topic: Annotated[str | None, Query(pattern=TOPIC_PATTERN)] = None,
) -> BroadcastPage:
    async with service.runtime.pool.acquire() as conn:
        rows, more = await schedules.list_broadcasts(
            PostgresRequests(conn), key, limit, position(cursor), topic
        )
    last = (rows[-1].created_at, rows[-1].id) if rows else None
    return BroadcastPage(
        items=[BroadcastOut.of(r) for r in rows], next_cursor=next_cursor(last, more)
    )


@router.get("/{broadcast_id}", response_model=BroadcastOut, responses=problems(404))
async def get_broadcast(broadcast_id: str, key: ReadDep, service: ServiceDep) -> BroadcastOut:
    async with service.runtime.pool.acquire() as conn:
        row = await schedules.get_broadcast(PostgresRequests(conn), key, broadcast_id)
    if row is None:
        raise ProblemError(not_found(f"broadcast {broadcast_id}"))
    return BroadcastOut.of(row)


@router.get(
    "/{broadcast_id}/recipients", response_model=RecipientPage, responses=problems(404),
    summary="Each recipient of a broadcast and its outcome, in the order they became known",
)  # fmt: skip
async def list_recipients(
    broadcast_id: str,
    key: ReadDep,
    service: ServiceDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Annotated[RecipientStatus | None, Query(description="only these")] = None,
) -> RecipientPage:
    after = chat_position(cursor)
    async with service.runtime.pool.acquire() as conn:
        if await schedules.get_broadcast(PostgresRequests(conn), key, broadcast_id) is None:
            raise ProblemError(not_found(f"broadcast {broadcast_id}"))
        rows, more = await recipients.list_recipients(
            PostgresRecipients(conn), broadcast_id, limit, after, status
        )
    last = (rows[-1].created_at, str(rows[-1].chat_id)) if rows else None
    return RecipientPage(
        items=[RecipientOut.of(r) for r in rows], next_cursor=next_cursor(last, more)
    )


@router.post("/{broadcast_id}/cancel", response_model=BroadcastOut, responses=problems(404, 409))
async def cancel_broadcast(
    broadcast_id: str,
    key: BroadcastDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Stop it: what was not yet handed to the sender is not sent."""

    async def effect(uow: UnitOfWork) -> StoredResponse:
        try:
            row = await schedules.cancel_broadcast(
                uow, PostgresRequests(uow.conn), key, broadcast_id
            )
        except ClosedError as exc:  # pragma: no cover - cancel of a cancelled one is a no-op
            raise ProblemError(closed(f"broadcast {broadcast_id}")) from exc
        if row is None:
            raise ProblemError(not_found(f"broadcast {broadcast_id}"))
        return StoredResponse(200, BroadcastOut.of(row).model_dump(mode="json"), {})

    path = f"{PATH}/{broadcast_id}/cancel"
    return await respond_once(service, key, idempotency_key, path, None, effect)

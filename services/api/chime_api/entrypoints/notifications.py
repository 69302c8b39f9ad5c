"""/v1/notifications: ask for a message to a chat, then follow its delivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from chime_api.domain.idempotency import StoredResponse
from chime_api.domain.notifications import NoBotError, Status, resolve_bot
from chime_api.domain.problems import ProblemError, not_found
from chime_api.entrypoints.dependencies import NotifyDep, ReadDep, ServiceDep
from chime_api.entrypoints.idempotent import IdempotencyKey, respond_once
from chime_api.entrypoints.paging import Cursor, Limit, invalid, next_cursor, position
from chime_api.entrypoints.schemas import (
    NotificationAccepted,
    NotificationIn,
    NotificationOut,
    NotificationPage,
    problems,
)
from chime_api.handlers import notifications
from chime_kit.unit_of_work import UnitOfWork

PATH = "/v1/notifications"
router = APIRouter(prefix=PATH, tags=["notifications"], responses=problems(401, 403, 422))


@router.post(
    "",
    status_code=202,
    response_model=NotificationAccepted,
    # 400: a body that cannot be read as JSON text at all (not UTF-8).
    responses=problems(400, 409),
    summary="Send a message to a chat now",
)
async def create_notification(
    body: NotificationIn,
    key: NotifyDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    try:
        bot_id = resolve_bot(body.bot_id, service.settings.default_bot_id)
    except NoBotError as exc:
        raise invalid("body.bot_id", str(exc)) from exc
    request = body.request(bot_id)

    async def effect(uow: UnitOfWork) -> StoredResponse:
        notification = await notifications.request_notification(uow, key, request)
        return StoredResponse(
            status=202,
            body=NotificationAccepted.of(notification).model_dump(mode="json"),
            headers={"Location": f"{PATH}/{notification.id}"},
        )

    return await respond_once(
        service, key, idempotency_key, PATH, body.model_dump(mode="json"), effect
    )


@router.get(
    "/{notification_id}",
    response_model=NotificationOut,
    responses=problems(404),
    summary="Delivery status of a notification",
)
async def get_notification(
    notification_id: str, key: ReadDep, service: ServiceDep
) -> NotificationOut:
    async with service.runtime.pool.acquire() as conn:
        notification = await notifications.get_notification(conn, key, notification_id)
    if notification is None:
        raise ProblemError(not_found(f"notification {notification_id}"))
    return NotificationOut.of(notification)


@router.get(
    "",
    response_model=NotificationPage,
    summary="The notifications of this key's owner, newest first",
)
async def list_notifications(
    key: ReadDep,
    service: ServiceDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Annotated[Status | None, Query(description="only those in this status")] = None,
    chat_id: Annotated[int | None, Query(description="only those to this chat")] = None,
) -> NotificationPage:
    async with service.runtime.pool.acquire() as conn:
        items, more = await notifications.list_notifications(
            conn, key, limit, position(cursor), status, chat_id
        )
    last = (items[-1].created_at, items[-1].id) if items else None
    return NotificationPage(
        items=[NotificationOut.of(n) for n in items], next_cursor=next_cursor(last, more)
    )

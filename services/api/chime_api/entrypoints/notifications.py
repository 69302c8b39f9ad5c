"""/v1/notifications: ask for a message to a chat, then follow its delivery."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from chime_api.adapters.limits import Read
from chime_api.adapters.notifications import (
    PostgresNotifications,
    notification_of,
    one_read,
    page_read,
)
from chime_api.adapters.schedules import PostgresRequests
from chime_api.domain.idempotency import StoredResponse
from chime_api.domain.keys import ApiKey, Scope
from chime_api.domain.notifications import NotEditableError, Status
from chime_api.domain.problems import ProblemError, forbidden, not_editable, not_found
from chime_api.entrypoints.broadcasts import BroadcastIn, BroadcastOut, accept_broadcast
from chime_api.entrypoints.dependencies import NotifyDep, ReadPresented, ServiceDep, admit
from chime_api.entrypoints.idempotent import IdempotencyKey, respond_once
from chime_api.entrypoints.paging import Cursor, Limit, next_cursor, position
from chime_api.entrypoints.schedules import ScheduleOut, target_bot
from chime_api.entrypoints.schemas import (
    TELEGRAM_ID,
    NotificationAccepted,
    NotificationIn,
    NotificationOut,
    NotificationPage,
    problems,
)
from chime_api.handlers import notifications, schedules
from chime_contracts.events.schedules import OnceSpec
from chime_contracts.events.shared import InlineButton
from chime_kit.unit_of_work import UnitOfWork

PATH = "/v1/notifications"
router = APIRouter(prefix=PATH, tags=["notifications"], responses=problems(401, 403, 422))


@router.post(
    "",
    status_code=202,
    response_model=NotificationAccepted | ScheduleOut | BroadcastOut,
    # 400: a body that cannot be read as JSON text at all (not UTF-8).
    responses=problems(400, 409),
    response_description="accepted: to a chat now (a notification), at a time (a schedule,"
    " Location /v1/schedules/...) or to a topic (a broadcast, Location /v1/broadcasts/...)",
    summary="Send a message to a chat, a user or a topic, now or at a time",
)
async def create_notification(
    body: NotificationIn,
    key: NotifyDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """To a topic it is a broadcast (the key needs `broadcast` too); at a time, a one-shot
    schedule (`schedule` too); else a message now, whose delivery `GET .../{id}` follows."""
    bot_id = target_bot(body.bot_id, service.settings.default_bot_id)
    if body.topic is not None:
        _also_needs(key, Scope.BROADCAST)
        broadcast = BroadcastIn(topic=body.topic, message=body.template(), at=body.at)

        async def effect(uow: UnitOfWork) -> StoredResponse:
            return await accept_broadcast(uow, key, bot_id, broadcast)

    elif body.at is not None:
        _also_needs(key, Scope.SCHEDULE)
        new = schedules.NewSchedule(
            bot_id=bot_id, chat_id=body.chat, topic=None, spec=OnceSpec(at=body.at),
            time_zone="UTC", message=body.template(),
        )  # fmt: skip

        async def effect(uow: UnitOfWork) -> StoredResponse:
            row = await schedules.create_schedule(uow, PostgresRequests(uow.conn), key, new)
            location = {"Location": f"/v1/schedules/{row.id}"}
            return StoredResponse(202, ScheduleOut.of(row).model_dump(mode="json"), location)

    else:
        assert body.chat is not None
        request = body.request(bot_id, body.chat)

        async def effect(uow: UnitOfWork) -> StoredResponse:
            notification = await notifications.request_notification(
                uow, PostgresNotifications(uow.conn), key, request
            )
            return StoredResponse(
                status=202,
                body=NotificationAccepted.of(notification).model_dump(mode="json"),
                headers={"Location": f"{PATH}/{notification.id}"},
            )

    return await respond_once(
        service, key, idempotency_key, PATH, body.model_dump(mode="json"), effect
    )


def _also_needs(key: ApiKey, scope: Scope) -> None:
    if not key.allows(scope):
        raise ProblemError(forbidden([scope]))


@router.get(
    "/{notification_id}",
    response_model=NotificationOut,
    responses=problems(404),
    summary="Delivery status of a notification",
)
async def get_notification(
    notification_id: str, presented: ReadPresented, service: ServiceDep
) -> NotificationOut:
    # The hot path's pool, and the read in the key's statement: one round trip.
    async with service.limits_pool.acquire() as conn:
        key, rows = await admit(service, conn, presented, lambda _: one_read(notification_id))
        if rows is None:
            found = await PostgresNotifications(conn).get(notification_id)
        else:
            found = notification_of(rows[0]) if rows else None
    notification = notifications.visible(key, found)
    if notification is None:
        raise ProblemError(not_found(f"notification {notification_id}"))
    return NotificationOut.of(notification)


@router.get(
    "",
    response_model=NotificationPage,
    summary="The notifications of this key's owner, newest first",
)
async def list_notifications(
    presented: ReadPresented,
    service: ServiceDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Annotated[Status | None, Query(description="only those in this status")] = None,
    chat_id: Annotated[
        int | None, Query(ge=-TELEGRAM_ID, le=TELEGRAM_ID, description="only those to this chat")
    ] = None,
) -> NotificationPage:
    after = position(cursor)

    def read(key: ApiKey) -> Read:
        return page_read(key.owner, limit + 1, after, status, chat_id)

    async with service.limits_pool.acquire() as conn:
        key, rows = await admit(service, conn, presented, read)
        if rows is None:
            items, more = await notifications.list_notifications(
                PostgresNotifications(conn), key, limit, after, status, chat_id
            )
        else:
            items, more = notifications.page_of([notification_of(r) for r in rows], limit)
    last = (items[-1].created_at, items[-1].id) if items else None
    return NotificationPage(
        items=[NotificationOut.of(n) for n in items], next_cursor=next_cursor(last, more)
    )


class EditIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "Deploy finished (fixed)"}]}
    )

    text: str | None = Field(default=None, min_length=1, max_length=4096, pattern=r"^[^\x00]+$")
    parse_mode: Literal["HTML", "MarkdownV2"] | None = None
    variables: dict[str, Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, max_length=50
    )
    buttons: list[list[InlineButton]] | None = Field(
        default=None, max_length=10, description="the new keyboard; [] removes it"
    )


@router.post(
    "/{notification_id}/edit", status_code=202, response_model=NotificationOut,
    responses=problems(404, 409), summary="Edit the sent message (text and/or keyboard)",
)  # fmt: skip
async def edit_message(
    notification_id: str,
    body: EditIn,
    key: NotifyDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def effect(uow: UnitOfWork) -> StoredResponse:
        edited = await _editing(
            notification_id,
            notifications.edit_message(
                uow, PostgresNotifications(uow.conn), key, notification_id, body.text,
                body.parse_mode, body.variables, body.buttons,
            ),
        )  # fmt: skip
        return StoredResponse(202, await _current(uow, key, notification_id, edited), {})

    path = f"{PATH}/{notification_id}/edit"
    dumped = body.model_dump(mode="json")
    return await respond_once(service, key, idempotency_key, path, dumped, effect)


@router.delete(
    "/{notification_id}/message", status_code=202, response_model=NotificationOut,
    responses=problems(404, 409), summary="Delete the sent message from the chat",
)  # fmt: skip
async def delete_message(notification_id: str, key: NotifyDep, service: ServiceDep) -> JSONResponse:
    async with service.runtime.unit_of_work() as uow:
        deleted = await _editing(
            notification_id,
            notifications.delete_message(
                uow, PostgresNotifications(uow.conn), key, notification_id
            ),
        )
        body = await _current(uow, key, notification_id, deleted)
    return JSONResponse(body, status_code=202)


async def _editing(notification_id: str, change: Awaitable[bool]) -> bool:
    try:
        return await change
    except NotEditableError as exc:
        raise ProblemError(not_editable(notification_id)) from exc


async def _current(
    uow: UnitOfWork, key: ApiKey, notification_id: str, found: bool
) -> dict[str, Any]:
    notification = await notifications.get_notification(
        PostgresNotifications(uow.conn), key, notification_id
    )
    if not found or notification is None:
        raise ProblemError(not_found(f"notification {notification_id}"))
    return NotificationOut.of(notification).model_dump(mode="json")

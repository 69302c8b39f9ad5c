"""/v1/notifications: ask for a message to a chat, then follow its delivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from chime_api import handlers
from chime_api.domain.cursor import (
    CURSOR_PATTERN,
    MAX_CURSOR_LENGTH,
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
)
from chime_api.domain.idempotency import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    IdempotencyInFlightError,
    StoredResponse,
    fingerprint,
)
from chime_api.domain.notifications import NoBotError, Notification, resolve_bot
from chime_api.domain.problems import (
    FieldError,
    ProblemError,
    idempotency_in_flight,
    idempotency_key_reused,
    not_found,
    validation_problem,
)
from chime_api.entrypoints.dependencies import (
    NotificationReaderDep,
    NotificationWriterDep,
    ServiceDep,
)
from chime_api.entrypoints.schemas import (
    NotificationAccepted,
    NotificationIn,
    NotificationOut,
    NotificationPage,
    problems,
)

PATH = "/v1/notifications"
router = APIRouter(prefix=PATH, tags=["notifications"], responses=problems(401, 403, 422))


def _accepted(notification: Notification) -> StoredResponse:
    return StoredResponse(
        status=202,
        body=NotificationAccepted.of(notification).model_dump(mode="json"),
        headers={"Location": f"{PATH}/{notification.id}"},
    )


def _invalid(location: str, message: str) -> ProblemError:
    return ProblemError(validation_problem([FieldError(location, message)]))


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
    key: NotificationWriterDep,
    service: ServiceDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="retries with the same key and body replay the first response;"
            " printable ASCII",
            pattern=KEY_PATTERN,
            max_length=MAX_KEY_LENGTH,
        ),
    ] = None,
) -> JSONResponse:
    try:
        bot_id = resolve_bot(body.bot_id, service.settings.default_bot_id)
    except NoBotError as exc:
        raise _invalid("body.bot_id", str(exc)) from exc
    idempotency = None
    if idempotency_key is not None:
        canonical = fingerprint("POST", PATH, body.model_dump(mode="json"))
        idempotency = handlers.Idempotency(idempotency_key, canonical)
    request = handlers.NotificationRequest(body.chat_id, bot_id, body.text, body.parse_mode)
    try:
        async with service.runtime.unit_of_work() as uow:
            outcome = await handlers.request_notification(
                uow,
                key,
                request,
                idempotency,
                idempotency_wait=service.settings.idempotency_wait_seconds,
                render=_accepted,
            )
    except IdempotencyInFlightError as exc:
        raise ProblemError(idempotency_in_flight()) from exc
    if isinstance(outcome, handlers.KeyReused):
        raise ProblemError(idempotency_key_reused())
    if isinstance(outcome, handlers.Replayed):
        stored = outcome.response
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        return JSONResponse(stored.body, status_code=stored.status, headers=headers)
    stored = outcome.response
    return JSONResponse(stored.body, status_code=stored.status, headers=stored.headers)


@router.get(
    "/{notification_id}",
    response_model=NotificationOut,
    responses=problems(404),
    summary="Delivery status of a notification",
)
async def get_notification(
    notification_id: str, key: NotificationReaderDep, service: ServiceDep
) -> NotificationOut:
    async with service.runtime.pool.acquire() as conn:
        notification = await handlers.get_notification(conn, key, notification_id)
    if notification is None:
        raise ProblemError(not_found(f"notification {notification_id}"))
    return NotificationOut.of(notification)


@router.get("", response_model=NotificationPage, summary="This key's notifications, newest first")
async def list_notifications(
    key: NotificationReaderDep,
    service: ServiceDep,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the previous page",
            pattern=CURSOR_PATTERN,
            max_length=MAX_CURSOR_LENGTH,
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> NotificationPage:
    try:
        after = decode_cursor(cursor) if cursor else None
    except InvalidCursorError as exc:
        raise _invalid("query.cursor", "not a cursor from a previous page") from exc
    async with service.runtime.pool.acquire() as conn:
        items, more = await handlers.list_notifications(conn, key, limit, after)
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more else None
    return NotificationPage(items=[NotificationOut.of(n) for n in items], next_cursor=next_cursor)

"""/v1/webhooks: the caller's events POSTed to its endpoint, signed, retried, replayable;
its secret rotated, paused and resumed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from chime_api.adapters.feed import FEED_TYPES
from chime_api.adapters.webhooks import Webhook
from chime_api.domain.idempotency import StoredResponse
from chime_api.domain.problems import ProblemError, not_found
from chime_api.entrypoints.dependencies import ReadDep, ServiceDep
from chime_api.entrypoints.idempotent import IdempotencyKey, respond_once
from chime_api.entrypoints.paging import Cursor, Limit, invalid, next_cursor, position
from chime_api.entrypoints.schemas import problems
from chime_api.handlers import webhooks
from chime_kit.unit_of_work import UnitOfWork

PATH = "/v1/webhooks"
router = APIRouter(prefix=PATH, tags=["webhooks"], responses=problems(401, 403, 422))


class WebhookIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://ci.example.com/chime", "types": ["message.sent.v1"]}]
        },
    )

    url: AnyHttpUrl = Field(description="receives a POST per event, signed")
    types: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=len(FEED_TYPES), description="default: every followable type"
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    types: list[str]
    position: int = Field(description="the last event position delivered")
    delivered: int
    attempts: int = Field(description="failed tries of the current event")
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    paused: bool = Field(default=False, description="nothing is delivered until resumed")
    secret: str | None = Field(
        default=None,
        description="the signing secret: in the response that created or rotated it, never again",
    )

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        return cls(
            **{k: v for k, v in hook.__dict__.items() if k in cls.model_fields and k != "secret"}
        )


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    after_position: int = Field(ge=0, le=2**62, description="deliver every event after it")


@router.post("", status_code=201, response_model=WebhookOut, responses=problems(409))
async def create_webhook(
    body: WebhookIn, key: ReadDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Events from now on are delivered; `secret` (shown once) signs them (see the README)."""
    types = body.types or list(FEED_TYPES)
    unknown = sorted(set(types) - set(FEED_TYPES))
    if unknown:
        raise invalid("body.types", f"not a followable event type: {', '.join(unknown)}")
    reveal: dict[str, Any] = {}

    async def effect(uow: UnitOfWork) -> StoredResponse:
        hook = await webhooks.create_webhook(uow, key, str(body.url), types)
        reveal["secret"] = hook.secret
        out = WebhookOut.of(hook).model_dump(mode="json")
        return StoredResponse(
            201, out, {"Location": f"{PATH}/{hook.id}", "Cache-Control": "no-store"}
        )

    dumped = body.model_dump(mode="json")
    return await respond_once(service, key, idempotency_key, PATH, dumped, effect, reveal)


@router.get("", response_model=WebhookPage)
async def list_webhooks(
    key: ReadDep, service: ServiceDep, cursor: Cursor = None, limit: Limit = 50
) -> WebhookPage:
    async with service.runtime.pool.acquire() as conn:
        rows, more = await webhooks.page_of_webhooks(conn, key, limit, position(cursor))
    last = (rows[-1].created_at, rows[-1].id) if rows else None
    return WebhookPage(items=[WebhookOut.of(r) for r in rows], next_cursor=next_cursor(last, more))


async def _owned(service: ServiceDep, key: Any, webhook_id: str) -> Webhook:
    async with service.runtime.pool.acquire() as conn:
        hook = await webhooks.owned_webhook(conn, key, webhook_id)
    if hook is None:
        raise ProblemError(not_found(f"webhook {webhook_id}"))
    return hook


@router.get("/{webhook_id}", response_model=WebhookOut, responses=problems(404))
async def get_webhook(webhook_id: str, key: ReadDep, service: ServiceDep) -> WebhookOut:
    return WebhookOut.of(await _owned(service, key, webhook_id))


@router.delete("/{webhook_id}", status_code=204, responses=problems(404))
async def delete_webhook(webhook_id: str, key: ReadDep, service: ServiceDep) -> Response:
    await _owned(service, key, webhook_id)
    async with service.runtime.unit_of_work() as uow:
        await webhooks.delete(uow, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/replay", response_model=WebhookOut, responses=problems(404, 409))
async def replay(
    webhook_id: str,
    body: ReplayIn,
    key: ReadDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Deliver again every event after `after_position` (a receiver that lost some)."""
    await _owned(service, key, webhook_id)

    async def effect(uow: UnitOfWork) -> StoredResponse:
        hook = await webhooks.replay(uow, webhook_id, body.after_position)
        if hook is None:
            raise ProblemError(not_found(f"webhook {webhook_id}"))
        return StoredResponse(200, WebhookOut.of(hook).model_dump(mode="json"), {})

    path = f"{PATH}/{webhook_id}/replay"
    return await respond_once(service, key, idempotency_key, path, body.model_dump(), effect)


@router.post(
    "/{webhook_id}/secret-rotations",
    status_code=201,
    response_model=WebhookOut,
    responses=problems(404, 409),
)
async def rotate_secret(
    webhook_id: str, key: ReadDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """A new signing `secret` (shown once), used from the next delivery on; the old one
    signs nothing more."""
    await _owned(service, key, webhook_id)
    reveal: dict[str, Any] = {}

    async def effect(uow: UnitOfWork) -> StoredResponse:
        hook = await webhooks.rotate_secret(uow, webhook_id)
        if hook is None:
            raise ProblemError(not_found(f"webhook {webhook_id}"))
        reveal["secret"] = hook.secret
        out = WebhookOut.of(hook).model_dump(mode="json")
        return StoredResponse(201, out, {"Cache-Control": "no-store"})

    path = f"{PATH}/{webhook_id}/secret-rotations"
    return await respond_once(service, key, idempotency_key, path, {}, effect, reveal)


async def _switch(
    service: ServiceDep, key: Any, webhook_id: str, paused: bool, idempotency_key: str | None
) -> JSONResponse:
    await _owned(service, key, webhook_id)

    async def effect(uow: UnitOfWork) -> StoredResponse:
        change = webhooks.pause if paused else webhooks.resume
        hook = await change(uow, webhook_id)
        if hook is None:
            raise ProblemError(not_found(f"webhook {webhook_id}"))
        return StoredResponse(200, WebhookOut.of(hook).model_dump(mode="json"), {})

    path = f"{PATH}/{webhook_id}/{'pause' if paused else 'resume'}"
    return await respond_once(service, key, idempotency_key, path, {}, effect)


@router.post("/{webhook_id}/pause", response_model=WebhookOut, responses=problems(404, 409))
async def pause_webhook(
    webhook_id: str, key: ReadDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Stop delivering (idempotent); the events wait for `resume`, none is skipped."""
    return await _switch(service, key, webhook_id, True, idempotency_key)


@router.post("/{webhook_id}/resume", response_model=WebhookOut, responses=problems(404, 409))
async def resume_webhook(
    webhook_id: str, key: ReadDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Deliver again from where it stopped (idempotent)."""
    return await _switch(service, key, webhook_id, False, idempotency_key)

"""/v1/keys: an admin key manages its team's keys (a key without a team, only itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from chime_api.adapters.keys import PostgresKeys
from chime_api.domain.idempotency import StoredResponse
from chime_api.domain.keys import ApiKey, Limits, Scope
from chime_api.domain.problems import ProblemError, no_team, not_found
from chime_api.entrypoints.dependencies import AdminDep, ServiceDep
from chime_api.entrypoints.idempotent import IdempotencyKey, respond_once
from chime_api.entrypoints.paging import Cursor, Limit, next_cursor, position
from chime_api.entrypoints.schemas import problems
from chime_api.handlers import keys
from chime_kit.unit_of_work import UnitOfWork

PATH = "/v1/keys"
router = APIRouter(prefix=PATH, tags=["keys"], responses=problems(401, 403, 422))


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rate_per_second: float = Field(gt=0, le=100_000, description="bucket refill")
    burst: int = Field(ge=1, le=1_000_000, description="bucket size")


class KeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"name": "billing-worker", "scopes": ["notify", "read"]}]},
    )

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00]+$")
    scopes: list[Annotated[Scope, Field(strict=False)]] = Field(min_length=1, max_length=len(Scope))
    limits: LimitsIn | None = Field(default=None, description="default: the configured limits")


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    team: str | None
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(description="set once rotated: the overlap's end")
    limits: LimitsIn | None
    key: str | None = Field(
        default=None,
        description="the key itself: in the response that created it, never again (a replay"
        " of that request answers without it)",
    )

    @classmethod
    def of(cls, k: ApiKey) -> KeyOut:
        limits = k.limits
        return cls(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            team=k.team,
            scopes=sorted(k.scopes),
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            expires_at=k.expires_at,
            limits=LimitsIn(rate_per_second=limits.per_second, burst=limits.burst)
            if limits
            else None,
        )


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None


def _created(key: ApiKey, plaintext: str, reveal: dict[str, Any]) -> StoredResponse:
    reveal["key"] = plaintext
    return StoredResponse(
        status=201,
        body=KeyOut.of(key).model_dump(mode="json"),
        headers={"Location": f"{PATH}/{key.id}", "Cache-Control": "no-store"},
    )


@router.post("", status_code=201, response_model=KeyOut, responses=problems(409))
async def create_key(
    body: KeyIn, caller: AdminDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """A key of the caller's team, shown once in `key`."""
    if caller.team is None:
        raise ProblemError(no_team())
    reveal: dict[str, Any] = {}
    limits = Limits(body.limits.rate_per_second, body.limits.burst) if body.limits else None

    async def effect(uow: UnitOfWork) -> StoredResponse:
        new = keys.NewKey(body.name, frozenset(body.scopes), caller.team, limits)
        return _created(*await keys.create_api_key(uow, PostgresKeys(uow.conn), new), reveal)

    dumped = body.model_dump(mode="json")
    return await respond_once(service, caller, idempotency_key, PATH, dumped, effect, reveal)


@router.get("", response_model=KeyPage, summary="The keys of the caller's team, newest first")
async def list_keys(
    caller: AdminDep, service: ServiceDep, cursor: Cursor = None, limit: Limit = 50
) -> KeyPage:
    async with service.runtime.pool.acquire() as conn:
        items, more = await keys.page_of_keys(PostgresKeys(conn), caller, limit, position(cursor))
    last = (items[-1].created_at, items[-1].id) if items else None
    return KeyPage(items=[KeyOut.of(k) for k in items], next_cursor=next_cursor(last, more))


async def _owned(service: ServiceDep, caller: ApiKey, key_id: str) -> ApiKey:
    async with service.runtime.pool.acquire() as conn:
        key = await keys.owned_key(PostgresKeys(conn), caller, key_id)
    if key is None:
        raise ProblemError(not_found(f"key {key_id}"))
    return key


@router.get("/{key_id}", response_model=KeyOut, responses=problems(404))
async def get_key(key_id: str, caller: AdminDep, service: ServiceDep) -> KeyOut:
    return KeyOut.of(await _owned(service, caller, key_id))


@router.post(
    "/{key_id}/rotate", status_code=201, response_model=KeyOut, responses=problems(404, 409)
)
async def rotate_key(
    key_id: str, caller: AdminDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """A successor (shown once in `key`); the old key keeps working for the overlap period
    (`expires_at` on it), so callers can switch without downtime."""
    await _owned(service, caller, key_id)
    reveal: dict[str, Any] = {}
    overlap = service.settings.key_rotation_overlap

    async def effect(uow: UnitOfWork) -> StoredResponse:
        rotated = await keys.rotate_api_key(uow, PostgresKeys(uow.conn), key_id, overlap)
        if rotated is None:
            raise ProblemError(not_found(f"key {key_id}"))
        return _created(*rotated, reveal)

    path = f"{PATH}/{key_id}/rotate"
    return await respond_once(service, caller, idempotency_key, path, None, effect, reveal)


@router.patch("/{key_id}", response_model=KeyOut, responses=problems(404))
async def set_limits(key_id: str, body: LimitsIn, caller: AdminDep, service: ServiceDep) -> KeyOut:
    """Set the key's rate limit (a token bucket shared by every api replica)."""
    await _owned(service, caller, key_id)
    async with service.runtime.unit_of_work() as uow:
        limits = Limits(body.rate_per_second, body.burst)
        key = await keys.set_limits(uow, PostgresKeys(uow.conn), key_id, limits)
    assert key is not None
    return KeyOut.of(key)


@router.delete("/{key_id}", status_code=204, responses=problems(404))
async def revoke_key(key_id: str, caller: AdminDep, service: ServiceDep) -> Response:
    """Revoke: the key stops working at once (revoking a revoked key changes nothing)."""
    await _owned(service, caller, key_id)
    async with service.runtime.unit_of_work() as uow:
        await keys.revoke_api_key(uow, PostgresKeys(uow.conn), key_id)
    return Response(status_code=204)

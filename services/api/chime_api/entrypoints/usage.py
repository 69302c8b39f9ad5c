"""/v1/usage: requests, rate-limited requests, messages and failures per key per UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from chime_api.entrypoints.dependencies import ReadDep, ServiceDep
from chime_api.entrypoints.paging import Cursor, Limit, invalid, next_cursor, position
from chime_api.entrypoints.schemas import problems
from chime_api.handlers.usage import usage_of

router = APIRouter(prefix="/v1/usage", tags=["usage"], responses=problems(401, 403, 422))
MAX_DAYS = 366


class UsageOut(BaseModel):
    api_key_id: str
    day: date
    requests: int
    limited: int
    messages: int
    sent: int
    failures: int


class UsagePage(BaseModel):
    items: list[UsageOut]
    next_cursor: str | None


@router.get("", response_model=UsagePage, summary="Usage of the caller's team's keys per day")
async def usage(
    key: ReadDep,
    service: ServiceDep,
    since: Annotated[date | None, Query(alias="from", description="first UTC day")] = None,
    until: Annotated[date | None, Query(alias="to", description="last UTC day")] = None,
    api_key_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> UsagePage:
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=30)
    if since > until or (until - since).days > MAX_DAYS:
        raise invalid("query.from", f"from must be on or before to, at most {MAX_DAYS} days")
    at = position(cursor)
    after = (at[0].date(), at[1]) if at else None
    async with service.runtime.pool.acquire() as conn:
        rows, more = await usage_of(conn, key, since, until, api_key_id, limit, after)
    last = (datetime.combine(rows[-1].day, time(), UTC), rows[-1].api_key_id) if rows else None
    return UsagePage(
        items=[UsageOut(**r.__dict__) for r in rows], next_cursor=next_cursor(last, more)
    )

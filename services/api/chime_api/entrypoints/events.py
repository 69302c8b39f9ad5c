"""/v1/events: a Server-Sent Events stream of the caller's events (its notifications,
schedules and broadcasts), of the types it chooses; resume with `Last-Event-ID`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from chime_api.adapters.feed import FEED_TYPES, feed_after
from chime_api.bootstrap import Dependencies
from chime_api.domain.keys import ApiKey
from chime_api.entrypoints.dependencies import ReadDep, ServiceDep
from chime_api.entrypoints.paging import invalid
from chime_api.entrypoints.schemas import problems

router = APIRouter(prefix="/v1/events", tags=["events"], responses=problems(401, 403, 422))
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0


async def _stream(
    service: Dependencies, key: ApiKey, after: int, types: list[str], seconds: float
) -> AsyncIterator[bytes]:
    quiet = 0.0
    ends = asyncio.get_running_loop().time() + seconds
    yield b"retry: 2000\n\n"
    while True:
        async with service.runtime.pool.acquire() as conn:
            batch = await feed_after(conn, key.owner, after, types)
        for event in batch:
            data = orjson.dumps(event.envelope)
            yield f"id: {event.position}\nevent: {event.type}\ndata: ".encode() + data + b"\n\n"
            after = event.position
        if batch:
            quiet = 0.0
            continue
        if asyncio.get_running_loop().time() >= ends:
            return  # the client reconnects with Last-Event-ID, as EventSource does
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= HEARTBEAT_SECONDS:
            quiet = 0.0
            yield b": keep-alive\n\n"


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
    summary="Follow this key's owner's events as Server-Sent Events",
)
async def events(
    key: ReadDep,
    service: ServiceDep,
    types: Annotated[
        list[str] | None,
        Query(description=f"event types to follow (default: all of {', '.join(FEED_TYPES)})"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$", description="resume after it"),
    ] = None,
    max_seconds: Annotated[
        int,
        Query(
            ge=0,
            le=3600,
            description="end the stream after this long (0: send what is"
            " there now and end); the client resumes with Last-Event-ID",
        ),
    ] = 300,
) -> StreamingResponse:
    chosen = types or list(FEED_TYPES)
    unknown = sorted(set(chosen) - set(FEED_TYPES))
    if unknown:
        raise invalid("query.types", f"not a followable event type: {', '.join(unknown)}")
    after = int(last_event_id) if last_event_id else 0
    return StreamingResponse(
        _stream(service, key, after, chosen, max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

"""Loading many schedules at once (an import, a benchmark): the same decisions as a request
one at a time, written with COPY.

Each request is decided by `domain.schedules.create`, so its stream holds what a consumed
request would leave (the request, then created or rejected) and the projection row is the
one `rebuild` folds; nothing is published and no chat is told.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from chime_contracts.envelope import Envelope, Event, envelope_class
from chime_contracts.envelope import event_ids as _event_ids
from chime_contracts.events import ScheduleCreated, ScheduleRequested
from chime_kit.db import Connection
from chime_scheduler.adapters.schedules import CREATED_COLUMNS, created_row
from chime_scheduler.domain import schedules
from chime_scheduler.domain.schedules import SCHEDULE, NextOccurrences
from chime_scheduler.domain.trusted import trusted

_EVENT_COLUMNS = ("stream_id", "version", "event_id", "type", "envelope")
_UTC_Z = orjson.OPT_UTC_Z  # datetimes in UTC end in Z, as pydantic writes them


async def load_schedules(
    conn: Connection, requests: Iterable[Envelope[ScheduleRequested]],
    occurrences: NextOccurrences | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Decide and store every request (new streams only); (created, rejected). Runs in the
    caller's transaction; owners' numbers continue from what they have. A loader calling it
    chunk after chunk passes one `occurrences` to share first occurrences across them."""
    requests = list(requests)
    numbers = await _reserve(conn, Counter((r.data.owner.kind, r.data.owner.id) for r in requests))
    occurrences = occurrences or NextOccurrences()
    events: list[tuple[object, ...]] = []
    rows: list[tuple[object, ...]] = []
    rejected = 0
    ids = _event_ids(len(requests))
    for request in requests:
        owner = (request.data.owner.kind, request.data.owner.id)
        numbers[owner] += 1
        decided = schedules.create(SCHEDULE.initial, request, numbers[owner], occurrences)
        stream = schedules.stream_id(request.data.schedule_id)
        for version, item in enumerate(decided, start=1):
            envelope = item if isinstance(item, Envelope) else _caused(item, request, next(ids))
            events.append((stream, version, envelope.id, envelope.type, _json(envelope)))
            if isinstance(envelope.data, ScheduleCreated):
                row = created_row(envelope.data, version, envelope)
                rows.append(tuple(row[c] for c in CREATED_COLUMNS))
        rejected += not isinstance(decided[-1], ScheduleCreated)
    async with _binary_jsonb(conn):
        await conn.copy_records_to_table("events", records=events, columns=_EVENT_COLUMNS)
        await conn.copy_records_to_table("schedules", records=rows, columns=CREATED_COLUMNS)
    return len(rows), rejected


def _caused(event: Event, request: Envelope[Any], event_id: str) -> Envelope[Any]:
    """`envelope_of(event, producer="scheduler", causation=request)` without validating again
    what is already valid (the event, the request's ids); `test_bulk_envelope_is_valid` holds
    it to the model."""
    return trusted(
        envelope_class(type(event)), id=event_id, type=event.type, occurred_at=datetime.now(UTC),
        producer="scheduler", correlation_id=request.correlation_id, causation_id=request.id,
        traceparent=None, tracestate=None, data=event,
    )  # fmt: skip


def _json(envelope: Envelope[Any]) -> bytes:
    """`envelope.model_dump_json()`, in a fifth of the time: orjson walking the models'
    fields (`__dict__`) with UTC as `Z`, as pydantic writes it. The same bytes only while
    no model of a schedule's request or created event has aliases, exclusions or
    serializers of its own: `test_bulk_json_is_pydantics` compares them for every kind of
    spec, message part and envelope."""
    return orjson.dumps(envelope, default=_fields, option=_UTC_Z)


def _fields(model: object) -> dict[str, Any]:
    if isinstance(model, BaseModel):
        return model.__dict__
    raise TypeError(f"{type(model).__name__} is not JSON")


@asynccontextmanager
async def _binary_jsonb(conn: Connection) -> AsyncIterator[None]:
    """COPY speaks PostgreSQL's binary format, where jsonb is a version byte and the text
    (bytes given are that text already); the pool's codec (text format) comes back
    afterwards."""
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", format="binary",
        encoder=lambda v: b"\x01" + (v if isinstance(v, bytes) else orjson.dumps(v)),
        decoder=lambda b: orjson.loads(b[1:]),
    )  # fmt: skip
    try:
        yield
    finally:
        await conn.set_type_codec(
            "jsonb", schema="pg_catalog",
            encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
        )  # fmt: skip


async def _reserve(conn: Connection, added: Counter[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Reserve each owner's new numbers; the last number each had before."""
    rows = await conn.fetch(
        "INSERT INTO schedule_numbers AS n (owner_kind, owner_id, last)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::int[])"
        " ON CONFLICT (owner_kind, owner_id) DO UPDATE SET last = n.last + excluded.last"
        " RETURNING owner_kind, owner_id, last",
        [k for k, _ in added], [i for _, i in added], list(added.values()),
    )  # fmt: skip
    return {(r["owner_kind"], r["owner_id"]): r["last"] - added[(r["owner_kind"], r["owner_id"])]
            for r in rows}  # fmt: skip

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

import orjson

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import ScheduleCreated, ScheduleRequested
from chime_kit.db import Connection
from chime_scheduler.adapters.schedules import CREATED_COLUMNS, created_row
from chime_scheduler.domain import schedules
from chime_scheduler.domain.schedules import SCHEDULE

_EVENT_COLUMNS = ("stream_id", "version", "event_id", "type", "envelope")


async def load_schedules(
    conn: Connection, requests: Iterable[Envelope[ScheduleRequested]]
) -> tuple[int, int]:
    """Decide and store every request (new streams only); (created, rejected). Runs in the
    caller's transaction; owners' numbers continue from what they have."""
    requests = list(requests)
    numbers = await _reserve(conn, Counter((r.data.owner.kind, r.data.owner.id) for r in requests))
    events: list[tuple[object, ...]] = []
    rows: list[tuple[object, ...]] = []
    rejected = 0
    for request in requests:
        owner = (request.data.owner.kind, request.data.owner.id)
        numbers[owner] += 1
        decided = schedules.create(SCHEDULE.initial, request, numbers[owner])
        stream = schedules.stream_id(request.data.schedule_id)
        for version, item in enumerate(decided, start=1):
            envelope = (
                item
                if isinstance(item, Envelope)
                else envelope_of(item, producer="scheduler", causation=request)
            )
            # Serialised straight to JSON (a dict first, then orjson, took twice as long).
            events.append(
                (stream, version, envelope.id, envelope.type, envelope.model_dump_json().encode())
            )
            if isinstance(envelope.data, ScheduleCreated):
                row = created_row(envelope.data, version, envelope)
                rows.append(tuple(row[c] for c in CREATED_COLUMNS))
        rejected += not isinstance(decided[-1], ScheduleCreated)
    async with _binary_jsonb(conn):
        await conn.copy_records_to_table("events", records=events, columns=_EVENT_COLUMNS)
        await conn.copy_records_to_table("schedules", records=rows, columns=CREATED_COLUMNS)
    return len(rows), rejected


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

"""Writing to the transactional outbox; `relay.py` publishes what committed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chime_contracts.envelope import Envelope
from chime_kit.db import Connection


async def add(conn: Connection, envelopes: Sequence[Envelope[Any]]) -> None:
    """Must run inside the transaction that makes the change the events describe."""
    await conn.executemany(
        "INSERT INTO outbox (event_id, routing_key, body, traceparent) VALUES ($1, $2, $3, $4)",
        [(e.id, e.routing_key, e.model_dump_json().encode(), e.traceparent) for e in envelopes],
    )


async def pending_count(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox"))

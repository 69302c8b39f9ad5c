"""Append-only event store with optimistic concurrency, in the service's own schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from chime_contracts.envelope import Envelope
from chime_kit.db import Connection


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it: reload and decide again."""


async def append(
    conn: Connection,
    stream_id: str,
    expected_version: int,
    envelopes: Sequence[Envelope[Any]],
) -> int:
    """Append after `expected_version` (0 for a new stream); returns the new version."""
    rows = [
        (stream_id, expected_version + i, e.id, e.type, e.model_dump(mode="json"))
        for i, e in enumerate(envelopes, start=1)
    ]
    try:
        await conn.executemany(
            "INSERT INTO events (stream_id, version, event_id, type, envelope)"
            " VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
    except asyncpg.UniqueViolationError as exc:
        raise ConcurrencyError(f"stream {stream_id!r} is past version {expected_version}") from exc
    return expected_version + len(rows)


async def load(conn: Connection, stream_id: str) -> list[dict[str, Any]]:
    """The stream's envelopes (as JSON objects) in version order."""
    rows = await conn.fetch(
        "SELECT envelope FROM events WHERE stream_id = $1 ORDER BY version", stream_id
    )
    return [r["envelope"] for r in rows]


async def current_version(conn: Connection, stream_id: str) -> int:
    version = await conn.fetchval("SELECT max(version) FROM events WHERE stream_id = $1", stream_id)
    return int(version or 0)

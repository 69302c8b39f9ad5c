"""Append-only event store with optimistic concurrency, in the service's own schema.

A stream's version is the number of events in it; appending says which version the writer
decided from, and a writer that lost a race gets `ConcurrencyError` instead of a gap or a
fork. `read_all` hands every event of the schema out in global order, for rebuilds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from chime_contracts.envelope import Envelope, Event
from chime_contracts.registry import event_class
from chime_kit.db import Connection


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it: reload and decide again."""


@dataclass(frozen=True)
class Recorded:
    """One stored event: where it sits in its stream, and the envelope as it was written."""

    stream_id: str
    version: int
    envelope: Envelope[Any]


@dataclass(frozen=True)
class Stream:
    """A stream as loaded: its events in order and the version to append after."""

    stream_id: str
    version: int
    events: list[Envelope[Any]]


@dataclass(frozen=True)
class Append:
    """Envelopes for one stream, written only if the stream is still at `expected_version`."""

    stream_id: str
    expected_version: int
    envelopes: Sequence[Envelope[Any]]

    def recorded(self) -> list[Recorded]:
        return [
            Recorded(self.stream_id, self.expected_version + i, e)
            for i, e in enumerate(self.envelopes, start=1)
        ]


# Event types a service stores in its own streams but never publishes, so they are not in
# the contracts' registry (an api key's hash, say); the service registers them at import.
_PRIVATE: dict[str, type[Event]] = {}


def register_private(*classes: type[Event]) -> None:
    for cls in classes:
        _PRIVATE[cls.type_name()] = cls


def decode(stored: dict[str, Any]) -> Envelope[Any]:
    """A stored envelope as its typed event (the contracts' registry, or a private type)."""
    cls = _PRIVATE.get(stored["type"]) or event_class(stored["type"])
    envelope: Envelope[Any] = Envelope[cls].model_validate(stored)  # type: ignore[valid-type]
    return envelope


_INSERT_ONE = (
    "INSERT INTO events (stream_id, version, event_id, type, envelope)"
    " VALUES ($1, $2, $3, $4, $5::text::jsonb) ON CONFLICT DO NOTHING"
)
# Several events in one statement (one execution, not one per row as `executemany`), in
# the order given: a stream's events take their positions in version order.
_INSERT_MANY = (
    "INSERT INTO events (stream_id, version, event_id, type, envelope)"
    " SELECT s, v, i, t, e::jsonb FROM unnest($1::text[], $2::int[], $3::text[], $4::text[],"
    " $5::text[]) WITH ORDINALITY AS r(s, v, i, t, e, n) ORDER BY n"
)


async def append_many(conn: Connection, appends: Sequence[Append]) -> list[Recorded]:
    """Append to several streams in one statement; any stale version fails them all.

    A lost race on one event leaves the transaction as it was (the writer decides again
    without a savepoint, the common case: a decision records one event); on several it
    aborts the transaction, so their writer holds a savepoint (`UnitOfWork.attempt`).
    """
    recorded = [r for a in appends for r in a.recorded()]
    if not recorded:
        return []
    if len(recorded) == 1:
        [one] = recorded
        status = await conn.execute(
            _INSERT_ONE, one.stream_id, one.version, one.envelope.id, one.envelope.type,
            one.envelope.model_dump_json(),
        )  # fmt: skip
        if status != "INSERT 0 1":
            raise ConcurrencyError(
                f"stream {one.stream_id!r} moved past its expected version {one.version - 1}"
            )
        return recorded
    try:
        await conn.execute(
            _INSERT_MANY,
            [r.stream_id for r in recorded],
            [r.version for r in recorded],
            [r.envelope.id for r in recorded],
            [r.envelope.type for r in recorded],
            [r.envelope.model_dump_json() for r in recorded],
        )
    except asyncpg.UniqueViolationError as exc:
        streams = ", ".join(f"{a.stream_id!r}@{a.expected_version}" for a in appends[:5])
        raise ConcurrencyError(f"a stream moved past its expected version ({streams})") from exc
    return recorded


async def append(
    conn: Connection,
    stream_id: str,
    expected_version: int,
    envelopes: Sequence[Envelope[Any]],
) -> int:
    """Append after `expected_version` (0 for a new stream); returns the new version."""
    await append_many(conn, [Append(stream_id, expected_version, envelopes)])
    return expected_version + len(envelopes)


async def load(conn: Connection, stream_id: str) -> Stream:
    """The stream's events in version order, and its version (0 when it does not exist)."""
    rows = await conn.fetch(
        "SELECT version, envelope FROM events WHERE stream_id = $1 ORDER BY version", stream_id
    )
    return Stream(
        stream_id, rows[-1]["version"] if rows else 0, [decode(r["envelope"]) for r in rows]
    )


async def current_version(conn: Connection, stream_id: str) -> int:
    version = await conn.fetchval("SELECT max(version) FROM events WHERE stream_id = $1", stream_id)
    return int(version or 0)


async def read_all(conn: Connection, batch_size: int = 1000) -> AsyncIterator[list[Recorded]]:
    """Every event of the schema in global order, in batches; must run in a transaction.

    One cursor is one snapshot: events committed while it runs are not seen (a rebuild locks
    its projections first, so their writers wait until it is done). Within a stream the
    global order is the version order, because an append waits for the version before it.
    """
    cursor = conn.cursor(
        "SELECT stream_id, version, envelope FROM events ORDER BY position", prefetch=batch_size
    )
    batch: list[Recorded] = []
    async for row in cursor:
        batch.append(Recorded(row["stream_id"], row["version"], decode(row["envelope"])))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch

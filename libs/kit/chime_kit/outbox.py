"""Writing to the transactional outbox; `relay.py` publishes what committed.

Each row is stored with a partition: the hash of its ordering key modulo `PARTITIONS`.
Order is kept within a partition, so everything whose order a consumer relies on shares a
key: the chat the event concerns (a chat's streams and its sends), else its correlation id.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from chime_contracts.envelope import Envelope
from chime_kit.db import Connection

# Fixed, because rows keep the partition they were written with: changing it while rows are
# pending could let a key's new rows overtake its old ones. It bounds how many relays can
# share one schema's outbox.
PARTITIONS = 16


def ordering_key(envelope: Envelope[Any]) -> str:
    chat_id = getattr(envelope.data, "chat_id", None)
    if chat_id is not None:
        return f"chat:{getattr(envelope.data, 'bot_id', '')}:{chat_id}"
    return f"correlation:{envelope.correlation_id}"


def partition_of(envelope: Envelope[Any]) -> int:
    # crc32, not hash(): every process must agree on a key's partition.
    return zlib.crc32(ordering_key(envelope).encode()) % PARTITIONS


_INSERT_ONE = (
    "INSERT INTO outbox (event_id, routing_key, body, traceparent, partition)"
    " VALUES ($1, $2, $3, $4, $5)"
)
# Several rows in one statement (one execution, not one per row as `executemany`), their
# ids in the order given: the relay publishes a partition's rows in id order.
_INSERT_MANY = (
    "INSERT INTO outbox (event_id, routing_key, body, traceparent, partition)"
    " SELECT i, k, b, t, p FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[],"
    " $5::smallint[]) WITH ORDINALITY AS r(i, k, b, t, p, n) ORDER BY n"
)


async def add(conn: Connection, envelopes: Sequence[Envelope[Any]]) -> None:
    """Must run inside the transaction that makes the change the events describe."""
    if len(envelopes) == 1:
        [e] = envelopes
        await conn.execute(
            _INSERT_ONE,
            e.id, e.routing_key, e.model_dump_json().encode(), e.traceparent, partition_of(e),
        )  # fmt: skip
    elif envelopes:
        await conn.execute(
            _INSERT_MANY,
            [e.id for e in envelopes],
            [e.routing_key for e in envelopes],
            [e.model_dump_json().encode() for e in envelopes],
            [e.traceparent for e in envelopes],
            [partition_of(e) for e in envelopes],
        )


async def pending_count(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox"))

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


async def add(conn: Connection, envelopes: Sequence[Envelope[Any]]) -> None:
    """Must run inside the transaction that makes the change the events describe."""
    await conn.executemany(
        "INSERT INTO outbox (event_id, routing_key, body, traceparent, partition)"
        " VALUES ($1, $2, $3, $4, $5)",
        [
            (e.id, e.routing_key, e.model_dump_json().encode(), e.traceparent, partition_of(e))
            for e in envelopes
        ],
    )


async def pending_count(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox"))

"""Envelopes of the scheduler's own events, built without validating again what is ours.

The hot paths (the bulk loader's created events, a firing's `schedule.fired.v1`) make
envelopes by the thousand from parts already valid: the event built by our code from
validated rows and requests, ids we make, the trace context of the current span. These
build them with `model_construct`, with ULIDs drawn many at a time; the tests hold each to
the model (re-validated, it equals itself) and to what `envelope_of` would have made.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from chime_contracts.envelope import Envelope, Event

# Crockford's base32 (a ULID's alphabet), two characters for each 10 bits.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def event_ids(count: int) -> Iterator[str]:
    """ULIDs, as `new_event_id` makes them (48 bits of milliseconds, 80 random), for
    `count` events at once: one read of the random source, then plain arithmetic."""
    noise = os.urandom(10 * count)
    for n in range(count):
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(noise[10 * n : 10 * n + 10])
        # 26 characters are 130 bits: two leading zeros, then the 128, ten at a time.
        yield "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def endless_ids(chunk: int = 256) -> Iterator[str]:
    """`event_ids` for as many as are taken, `chunk` random reads at a time."""
    while True:
        yield from event_ids(chunk)


@cache
def envelope_class(event_type: type[Event]) -> type[Envelope[Any]]:
    """`Envelope[event_type]`, looked up once (pydantic's own lookup costs a little each)."""
    return Envelope[event_type]  # type: ignore[valid-type]


def constructed(
    event: Event, event_id: str, producer: str, correlation_id: str,
    causation_id: str | None, traceparent: str | None, tracestate: str | None,
) -> Envelope[Any]:  # fmt: skip
    """The envelope `envelope_of` makes, from parts that are valid already."""
    envelope: Envelope[Any] = envelope_class(type(event)).model_construct(
        id=event_id, type=event.type, occurred_at=datetime.now(UTC), producer=producer,
        correlation_id=correlation_id, causation_id=causation_id, traceparent=traceparent,
        tracestate=tracestate, data=event,
    )  # fmt: skip
    return envelope

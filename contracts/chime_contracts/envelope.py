"""The envelope every event travels in, on the bus and in the outbox."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Crockford's base32 (a ULID's alphabet), two characters for each 10 bits.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = range(120, -1, -10)


def ulid_text(value: int) -> str:
    """The 26 characters of the 128-bit ULID `value`: 130 bits (two leading zeros), ten at
    a time (the standard library's base32 is Python code, slower than this)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


class _Ulids:
    """ULIDs (48 bits of milliseconds, 80 random) of this process, each above the last, as
    python-ulid's monotonic generator makes them, but with the random source read for many
    at once and the text made by plain arithmetic: a third of the cost of `str(ULID())`."""

    def __init__(self, chunk: int = 256) -> None:
        self.chunk = chunk
        self.last = 0
        self.noise = b""
        self.used = 0
        self.lock = threading.Lock()

    def take(self, count: int) -> list[str]:
        with self.lock:
            values = []
            for _ in range(count):
                if self.used == len(self.noise):
                    self.noise, self.used = os.urandom(10 * max(count, self.chunk)), 0
                random = int.from_bytes(self.noise[self.used : self.used + 10])
                self.used += 10
                value = (time.time_ns() // 1_000_000) << 80 | random
                # Within one millisecond (or if the clock stepped back): one above the last.
                self.last = value if value > self.last else self.last + 1
                values.append(self.last)
        return [ulid_text(v) for v in values]


_ULIDS = _Ulids()


def new_event_id() -> str:
    """A ULID: unique, and sortable by creation time (within the process, in order made)."""
    return _ULIDS.take(1)[0]


def event_ids(count: int) -> Iterator[str]:
    """`count` ids of `new_event_id`, made at once."""
    return iter(_ULIDS.take(count))


def endless_ids(chunk: int = 256) -> Iterator[str]:
    """`new_event_id` for as many as are taken, `chunk` made at a time."""
    while True:
        yield from _ULIDS.take(chunk)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every domain event: frozen, past tense, versioned in its `type`.

    Consumers ignore fields they do not know, so adding an optional field is compatible.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    # Who publishes the event; documentation for the AsyncAPI description.
    producer: ClassVar[str] = ""

    def routing_key(self) -> str:
        """The key this event is published under: its type, unless the event refines it."""
        return self.type

    @classmethod
    def type_name(cls) -> str:
        default = cls.model_fields["type"].default
        if not isinstance(default, str):
            raise TypeError(f"{cls.__name__} must give `type` a Literal default")
        return default


EventT = TypeVar("EventT", bound=Event)


class Envelope(BaseModel, Generic[EventT]):
    """Metadata around one event.

    `correlation_id` is shared by everything one request caused; `causation_id` is the id
    of the event that directly caused this one. `traceparent`/`tracestate` are W3C trace
    context, so a trace follows the event across services.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(default_factory=new_event_id, description="ULID, sortable by time")
    type: str = Field(description="versioned event name, also the routing key")
    occurred_at: datetime = Field(default_factory=utc_now)
    producer: str
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    data: EventT

    @model_validator(mode="before")
    @classmethod
    def _type_from_data(cls, values: Any) -> Any:
        if isinstance(values, dict) and "type" not in values:
            data = values.get("data")
            if isinstance(data, Event):
                values = {**values, "type": data.type}
            elif isinstance(data, dict) and "type" in data:
                values = {**values, "type": data["type"]}
        return values

    @model_validator(mode="after")
    def _type_matches_data(self) -> Envelope[EventT]:
        if self.type != self.data.type:
            raise ValueError(f"envelope type {self.type!r} != data type {self.data.type!r}")
        return self

    @property
    def routing_key(self) -> str:
        return self.data.routing_key()


def envelope_of(
    event: EventT,
    *,
    producer: str,
    correlation_id: str | None = None,
    causation: Envelope[Any] | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> Envelope[EventT]:
    """Wrap an event; a caused event inherits the correlation id of its cause."""
    event_id = new_event_id()
    if correlation_id is None:
        correlation_id = causation.correlation_id if causation else event_id
    envelope: Envelope[EventT] = Envelope[type(event)](  # type: ignore[misc, operator]
        id=event_id,
        type=event.type,
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation.id if causation else None,
        traceparent=traceparent,
        tracestate=tracestate,
        data=event,
    )
    return envelope


@cache
def envelope_class(event_type: type[Event]) -> type[Envelope[Any]]:
    """`Envelope[event_type]`, looked up once (pydantic's own lookup costs a little each)."""
    return Envelope[event_type]  # type: ignore[valid-type]


def constructed(
    event: Event, event_id: str, producer: str, correlation_id: str,
    causation_id: str | None, traceparent: str | None, tracestate: str | None,
) -> Envelope[Any]:  # fmt: skip
    """The envelope `envelope_of` makes, from parts that are valid already, without
    validating them again: the event a validated model instance (which `envelope_of` does
    not validate again either), the ids and trace context made by our own code.

    It is what `model_construct` makes (every field set, no extra, no private attributes:
    an envelope has no defaults to resolve, validators after construction or private
    attributes), without its walk over the fields, which cost more than validating."""
    envelope: Envelope[Any] = object.__new__(envelope_class(type(event)))
    _set(envelope, "__dict__", {
        "id": event_id, "type": event.type, "occurred_at": datetime.now(UTC),
        "producer": producer, "correlation_id": correlation_id, "causation_id": causation_id,
        "traceparent": traceparent, "tracestate": tracestate, "data": event,
    })  # fmt: skip
    _set(envelope, "__pydantic_fields_set__", set(_ENVELOPE_FIELDS))
    _set(envelope, "__pydantic_extra__", None)
    _set(envelope, "__pydantic_private__", None)
    return envelope


_set = object.__setattr__
_ENVELOPE_FIELDS = frozenset(Envelope.model_fields)


def wrapped(
    event: Event,
    *,
    producer: str,
    correlation_id: str | None = None,
    causation: Envelope[Any] | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> Envelope[Any]:
    """`envelope_of` for an event our own code made (a validated instance of its model), by
    the same rules (a caused event inherits its cause's correlation id), not validated again:
    the hot paths of every service wrap events by the thousand."""
    event_id = new_event_id()
    if correlation_id is None:
        correlation_id = causation.correlation_id if causation else event_id
    return constructed(
        event, event_id, producer, correlation_id, causation.id if causation else None,
        traceparent, tracestate,
    )  # fmt: skip

"""The envelope every event travels in, on the bus and in the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ulid import ULID


def new_event_id() -> str:
    """A ULID: unique, and sortable by creation time."""
    return str(ULID())


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

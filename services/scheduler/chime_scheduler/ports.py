"""What the scheduler's handlers need of storage, as ports: PostgreSQL in `adapters/`, and
every one also in memory (`adapters/memory.py`: `InMemoryStore`), with one contract suite
on both."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

from chime_contracts.events import SendBatchRequested
from chime_contracts.events.scheduler import SkipReason
from chime_contracts.events.schedules import MisfirePolicy, ScheduleOwner
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_kit.projection import Projection
from chime_scheduler.domain.reminders import Reminder


class Reminders(Projection, Protocol):
    """The reminders projection, which is also the index firing claims due work from."""

    async def claim_due(self, now: datetime, limit: int) -> list[Reminder]:
        """Mark up to `limit` due reminders fired, once across every replica; each comes back
        with its stream's version after the fired event that the caller then appends."""
        ...

    async def next_due_at(self) -> datetime | None: ...

    async def status(self, reminder_id: str) -> str | None: ...

    async def of_chat(self, bot_id: int, chat_id: int) -> list[str]:
        """The chat's reminders still to fire (not snoozes)."""
        ...

    async def resolve(self, bot_id: int, chat_id: int, ref: str) -> str | None:
        """The chat's reminder (not a snooze) with the id `ref`, whatever its state."""
        ...


@dataclass(frozen=True)
class DueSchedule:
    """A claimed schedule, locked until the claiming transaction ends."""

    id: str
    owner_kind: Literal["chat", "api_key"]
    owner_id: str
    bot_id: int
    chat_id: int | None
    topic: str | None
    spec: dict[str, Any]
    time_zone: str
    starts_on: date | None
    ends_on: date | None
    message: dict[str, Any]
    misfire: MisfirePolicy
    misfire_grace_seconds: int
    jitter_seconds: int
    language: str | None
    next_at: datetime
    version: int
    correlation_id: str
    # The requests' spans the firing links to: the creating one and the last update's.
    traceparent: str | None = None
    updated_traceparent: str | None = None


@dataclass(frozen=True)
class Listed:
    """A schedule as /list shows it, or a one-shot reminder (no number: its id)."""

    number: int | None
    status: str
    text: str
    next_at: datetime | None
    time_zone: str
    topic: str | None
    reminder_id: str | None = None


@dataclass(frozen=True)
class DueBroadcast:
    id: str
    owner_kind: Literal["chat", "api_key"]
    owner_id: str
    bot_id: int
    topic: str
    message: dict[str, Any]
    paid: bool
    due_at: datetime
    version: int
    correlation_id: str
    traceparent: str | None = None  # the request's span, which the start links to


@dataclass(frozen=True)
class HeldSlice:
    """A slice of a started broadcast, handed to the sender at `due_at`."""

    batch: SendBatchRequested
    due_at: datetime
    correlation_id: str
    traceparent: str | None = None  # the firing span, continued when it is handed over


class Schedules(Projection, Protocol):
    """The schedules projection: the next-fire index, numbers, and what /list shows."""

    async def claim_due(self, now: datetime, limit: int) -> list[DueSchedule]: ...

    async def next_fire_at(self) -> datetime | None: ...

    async def next_number(self, owner: ScheduleOwner) -> int: ...

    async def resolve(self, owner: ScheduleOwner, ref: str) -> str | None: ...

    async def of_chat(self, bot_id: int, chat_id: int) -> list[str]: ...

    async def page(
        self, owner: ScheduleOwner, page: int, size: int
    ) -> tuple[list[Listed], int]: ...

    async def counts(self) -> tuple[int, int]: ...


class Subscriptions(Projection, Protocol):
    async def topics_of(
        self, bot_id: int, chat_id: int, page: int, size: int
    ) -> tuple[list[str], int]: ...

    async def topics_of_chat(self, bot_id: int, chat_id: int) -> list[str]: ...

    async def recipients(
        self, bot_id: int, topic: str
    ) -> tuple[list[int], list[tuple[int, SkipReason]]]: ...


class Chats(Projection, Protocol):
    async def language(self, bot_id: int, chat_id: int) -> str | None: ...


class Broadcasts(Projection, Protocol):
    async def claim_due(self, now: datetime, limit: int) -> list[DueBroadcast]: ...

    async def next_due_at(self) -> datetime | None: ...

    async def tally(
        self, counts: dict[str, tuple[int, int]]
    ) -> dict[str, tuple[int, int, int, int]]: ...

    async def start_tally(self, broadcast_id: str, handed: int) -> None: ...

    async def reported(self, broadcast_id: str, done: int) -> None: ...

    async def hold_slices(self, held: Sequence[HeldSlice]) -> None: ...

    async def claim_slices(self, now: datetime, limit: int) -> list[HeldSlice]: ...

    async def drop_slices(self, broadcast_id: str) -> int: ...

    async def outcomes(self, broadcast_id: str) -> tuple[int, int]: ...

    async def next_slice_at(self) -> datetime | None: ...


class Store(Protocol):
    """Every repository of the scheduler, on one transaction."""

    @property
    def reminders(self) -> Reminders: ...

    @property
    def schedules(self) -> Schedules: ...

    @property
    def subscriptions(self) -> Subscriptions: ...

    @property
    def chats(self) -> Chats: ...

    @property
    def broadcasts(self) -> Broadcasts: ...


StoreOf = Callable[[Connection], Store]
"""Every repository on one connection (a unit of work's): what `bootstrap.build` injects."""


async def apply_all(store: Store, recorded: Sequence[Recorded]) -> None:
    """Hand recorded events to every projection (each ignores what is not its own)."""
    for projection in (store.schedules, store.broadcasts, store.subscriptions, store.chats):
        await projection.apply(recorded)

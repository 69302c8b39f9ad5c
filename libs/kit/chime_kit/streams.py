"""Deciding from a stream: load it, fold it into state, decide, append at the loaded version.

A race with another writer of the same stream raises ConcurrencyError at the append and
the decision is taken again from a fresh load, a bounded number of times; a lost race on
one event leaves the transaction as it was, so only an append of several takes a savepoint
(two round trips fewer for the common decision). What a decision appends is handed to the
stream's projections in the same transaction, so query tables never disagree with the
streams they are folded from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from chime_contracts.envelope import Envelope, Event
from chime_kit.event_store import Append, ConcurrencyError, Recorded, Stream

S = TypeVar("S")


class Work(Protocol):
    """The unit of work a handler decides through: streams, the outbox, one transaction.

    `chime_kit.unit_of_work.UnitOfWork` is the PostgreSQL one, `chime_kit.fakes.InMemoryWork`
    the fake; one contract suite runs against both.
    """

    def wrap(self, event: Event, correlation_id: str | None = None) -> Envelope[Any]: ...

    async def load(self, stream_id: str) -> Stream: ...

    async def append(self, appends: Sequence[Append]) -> list[Recorded]: ...

    async def publish(self, envelopes: Sequence[Envelope[Any]]) -> None: ...

    async def emit(
        self, *events: Event, correlation_id: str | None = None
    ) -> list[Envelope[Any]]: ...

    def attempt(self) -> AbstractAsyncContextManager[Any]: ...


@dataclass(frozen=True)
class Aggregate(Generic[S]):
    """How a stream's events fold into the state its decisions are taken from."""

    initial: S
    evolve: Callable[[S, Event], S]

    def fold(self, events: Iterable[Envelope[Any]], state: S | None = None) -> S:
        folded = self.initial if state is None else state
        for envelope in events:
            folded = self.evolve(folded, envelope.data)
        return folded


# What a decision returns: its own new events (wrapped and published), or a received
# envelope to keep in the stream as it came (another service's fact, not published again).
Decision = Callable[[S], Sequence[Event | Envelope[Any]]]


@dataclass(frozen=True)
class Decided(Generic[S]):
    before: S
    after: S
    version: int
    recorded: list[Recorded]


# A lost race means another writer won, so n writers at once need at most n attempts; past
# that the error reaches the caller (a consumer then nacks, and the event comes back later).
DEFAULT_ATTEMPTS = 5


async def state_of(work: Work, stream_id: str, aggregate: Aggregate[S]) -> S:
    """The stream's current state, for reading (a decision goes through `decide`)."""
    return aggregate.fold((await work.load(stream_id)).events)


async def decide(
    work: Work,
    stream_id: str,
    aggregate: Aggregate[S],
    decision: Decision[S],
    *,
    project: Callable[[Sequence[Recorded]], Awaitable[None]] | None = None,
    correlation_id: str | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
) -> Decided[S]:
    """Decide on `stream_id`'s current state and append what was decided at its version.

    `decision` may run more than once (after a lost race), so it must be pure. Raises
    ConcurrencyError when every attempt lost its race.
    """
    for attempt in range(1, attempts + 1):
        stream = await work.load(stream_id)
        before = aggregate.fold(stream.events)
        decided = decision(before)
        if not decided:
            return Decided(before, before, stream.version, [])
        envelopes = [
            d if isinstance(d, Envelope) else work.wrap(d, correlation_id) for d in decided
        ]
        try:
            recorded = await append_once(work, Append(stream_id, stream.version, envelopes))
        except ConcurrencyError:
            if attempt == attempts:
                raise
            continue
        await work.publish([e for d, e in zip(decided, envelopes, strict=True) if d is not e])
        if project is not None:
            await project(recorded)
        after = aggregate.fold(envelopes, before)
        return Decided(before, after, recorded[-1].version, recorded)
    raise AssertionError("unreachable")  # pragma: no cover


async def append_once(work: Work, append: Append) -> list[Recorded]:
    """Append, or raise ConcurrencyError leaving nothing behind: one event needs no
    savepoint (a lost race does not abort the transaction), several do."""
    if len(append.envelopes) == 1:
        return await work.append([append])
    async with work.attempt():
        return await work.append([append])

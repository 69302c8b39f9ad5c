"""In-memory stand-ins for the kit's ports, for handler tests that need no database.

They keep the real ones' rules (versions, ConcurrencyError, nothing kept from a failed
attempt); `libs/kit/tests/test_work_contract.py` runs one suite against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from chime_contracts.envelope import Envelope, Event, envelope_of
from chime_kit.event_store import Append, ConcurrencyError, Recorded, Stream


class InMemoryEvents:
    """One service's event store: streams and the global order."""

    def __init__(self) -> None:
        self.streams: dict[str, list[Envelope[Any]]] = {}
        self.all: list[Recorded] = []

    def version(self, stream_id: str) -> int:
        return len(self.streams.get(stream_id, ()))

    def append(self, appends: Sequence[Append]) -> list[Recorded]:
        for a in appends:
            if self.version(a.stream_id) != a.expected_version:
                raise ConcurrencyError(f"stream {a.stream_id!r} is past {a.expected_version}")
        recorded = [r for a in appends for r in a.recorded()]
        for r in recorded:
            self.streams.setdefault(r.stream_id, []).append(r.envelope)
        self.all.extend(recorded)
        return recorded

    def undo(self, recorded: Sequence[Recorded]) -> None:
        """Take back appends that were never committed (their writer rolled back)."""
        for r in recorded:
            self.streams[r.stream_id].remove(r.envelope)
            self.all.remove(r)


class InMemoryWork:
    """A unit of work over `InMemoryEvents`; `emitted` plays the outbox."""

    def __init__(
        self, events: InMemoryEvents, producer: str = "test", cause: Envelope[Any] | None = None
    ) -> None:
        self.events = events
        self.producer = producer
        self.cause = cause
        self.emitted: list[Envelope[Any]] = []
        self.appended: list[Recorded] = []

    def wrap(self, event: Event, correlation_id: str | None = None) -> Envelope[Any]:
        return envelope_of(
            event, producer=self.producer, correlation_id=correlation_id, causation=self.cause
        )

    async def load(self, stream_id: str) -> Stream:
        events = list(self.events.streams.get(stream_id, ()))
        return Stream(stream_id, len(events), events)

    async def append(self, appends: Sequence[Append]) -> list[Recorded]:
        recorded = self.events.append(appends)
        self.appended.extend(recorded)
        return recorded

    async def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        self.emitted.extend(envelopes)

    async def emit(self, *events: Event, correlation_id: str | None = None) -> list[Envelope[Any]]:
        envelopes = [self.wrap(e, correlation_id) for e in events]
        await self.publish(envelopes)
        return envelopes

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """Like a savepoint: what the block appended or published is undone if it raises
        (and only that: other writers' appends stay, as if committed)."""
        appended, emitted = len(self.appended), len(self.emitted)
        try:
            yield
        except BaseException:
            self.events.undo(self.appended[appended:])
            del self.appended[appended:], self.emitted[emitted:]
            raise

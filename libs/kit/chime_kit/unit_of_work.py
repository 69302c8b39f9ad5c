"""One transaction of a service: its writes, the events they record, and their outbox rows.

The outbox rows of a transaction are written together just before it commits (one
statement however many handlers of a batch published), not one statement per `publish`:
a round trip to PostgreSQL costs more CPU than the rows. A savepoint (`attempt`,
`Transaction.savepoint`) that rolls back drops what was published inside it, as it drops
its writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import asyncpg

from chime_contracts.envelope import Envelope, Event, wrapped
from chime_kit import event_store, outbox
from chime_kit.db import Connection
from chime_kit.event_store import Append, Recorded, Stream
from chime_kit.telemetry import current_traceparent


class Flushing(Protocol):
    async def flush(self) -> None: ...


F = TypeVar("F", bound=Flushing)


class UnitOfWork:
    """Handlers get one of these: the connection for their own tables, and `record`/`emit`.

    Events inherit the correlation id of the event being handled (`cause`) and the trace
    context of the current span, so a trace follows them through the outbox.
    """

    def __init__(
        self,
        conn: Connection,
        producer: str,
        cause: Envelope[Any] | None,
        transaction: Transaction | None = None,
    ):
        self.conn = conn
        self.producer = producer
        self.cause = cause
        self.emitted: list[Envelope[Any]] = []
        self._transaction = transaction

    def before_commit(self, key: str, make: Callable[[], F]) -> F:
        """One object per transaction under `key`, made at first use and shared by every
        unit of the transaction (a consumer's batch); its `flush()` runs just before the
        commit. Handlers gather work there and write it for the whole batch at once."""
        if self._transaction is None:
            raise RuntimeError("this unit of work is not part of a Transaction")
        return self._transaction.before_commit(key, make)

    def wrap(self, event: Event, correlation_id: str | None = None) -> Envelope[Any]:
        """`envelope_of` the event, not validated again: handlers publish events they built
        (validated instances of their models)."""
        traceparent, tracestate = current_traceparent()
        return wrapped(
            event,
            producer=self.producer,
            correlation_id=correlation_id,
            causation=self.cause,
            traceparent=traceparent,
            tracestate=tracestate,
        )

    async def emit(self, *events: Event, correlation_id: str | None = None) -> list[Envelope[Any]]:
        """Publish events (through the outbox) without recording them in a stream."""
        envelopes = [self.wrap(e, correlation_id) for e in events]
        await self.publish(envelopes)
        return envelopes

    async def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        if self._transaction is None:
            await outbox.add(self.conn, envelopes)
        else:
            self._transaction.outbox.extend(envelopes)
        self.emitted.extend(envelopes)

    async def record(
        self,
        stream_id: str,
        expected_version: int,
        *events: Event,
        correlation_id: str | None = None,
    ) -> int:
        """Append to the event store and publish; raises ConcurrencyError on a race."""
        envelopes = [self.wrap(e, correlation_id) for e in events]
        version = await event_store.append(self.conn, stream_id, expected_version, envelopes)
        await self.publish(envelopes)
        return version

    async def load(self, stream_id: str) -> Stream:
        return await event_store.load(self.conn, stream_id)

    async def append(self, appends: Sequence[Append]) -> list[Recorded]:
        """Store without publishing; raises ConcurrencyError if any stream moved on."""
        return await event_store.append_many(self.conn, appends)

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """A savepoint: a decision that fails (a lost race) leaves nothing behind, neither
        its writes nor what it published."""
        emitted = len(self.emitted)
        try:
            if self._transaction is None:
                async with self.conn.transaction():
                    yield
            else:
                async with self._transaction.savepoint():
                    yield
        except BaseException:
            del self.emitted[emitted:]
            raise


class Transaction:
    """One database transaction shared by the units of work of several causes (a batch)."""

    def __init__(self, conn: Connection, producer: str) -> None:
        self.conn = conn
        self.producer = producer
        self.units: list[UnitOfWork] = []
        # What its units published, in order: the outbox rows written at `flush`.
        self.outbox: list[Envelope[Any]] = []
        self._flushing: dict[str, Flushing] = {}

    def unit(self, cause: Envelope[Any] | None = None) -> UnitOfWork:
        uow = UnitOfWork(self.conn, self.producer, cause, self)
        self.units.append(uow)
        return uow

    def before_commit(self, key: str, make: Callable[[], F]) -> F:
        if key not in self._flushing:
            self._flushing[key] = make()
        found: F = self._flushing[key]  # type: ignore[assignment]
        return found

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction whose rollback also drops what was published inside it."""
        pending = len(self.outbox)
        try:
            async with self.conn.transaction():
                yield
        except BaseException:
            del self.outbox[pending:]
            raise

    async def flush(self) -> None:
        for flushing in self._flushing.values():
            await flushing.flush()
        self._flushing.clear()
        if self.outbox:
            await outbox.add(self.conn, self.outbox)
            self.outbox = []

    @property
    def emitted(self) -> bool:
        return any(uow.emitted for uow in self.units)


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, producer: str, after_commit: Callable[[], None] | None = None
) -> AsyncIterator[Transaction]:
    """Commit everything its units wrote at once; `after_commit` runs if any emitted."""
    async with pool.acquire() as conn, conn.transaction():
        tx = Transaction(conn, producer)
        yield tx
        await tx.flush()
    if after_commit is not None and tx.emitted:
        after_commit()


@asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool,
    producer: str,
    cause: Envelope[Any] | None = None,
    after_commit: Callable[[], None] | None = None,
) -> AsyncIterator[UnitOfWork]:
    async with transaction(pool, producer, after_commit) as tx:
        yield tx.unit(cause)

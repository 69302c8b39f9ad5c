"""Consuming one event type in batches: inbox rows and handler writes commit together.

A queue may feed several routes (projections) of a service: each names the messages it
wants (a binding) and the inbox name it claims them under, and every route a message
matches applies it in the same transaction, so an event several projections follow is
delivered, claimed and committed once. The inbox name, not the queue, is a route's
identity: an event that reaches a route through two queues (an old one and the one that
replaced it, during an upgrade) is applied once.

A consumer takes whatever its prefetch buffer holds now, up to `batch_size` messages (it
never waits to fill a batch), applies them in delivery order in one transaction, and
acknowledges them with one `basic.ack(multiple)` after the commit; one statement claims
the batch's inbox rows, and only the events it newly claims reach the handler. If the
batch fails, it is rolled back (its claims too) and applied again one message per
transaction, so one failing message is nacked alone and never holds the others.

A batch that fails because the database is unreachable is neither nacked nor split: its
messages stay unacked while the consumer waits for the database (with backoff) and then
applies the batch again, so an outage spends none of the queue's delivery limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from chime_contracts.envelope import Envelope, Event
from chime_contracts.routing import every_refinement_of, topic_matches
from chime_kit.broker import declare_consumer_queue, declare_dead_letter_queue
from chime_kit.db import Connection
from chime_kit.in_flight import InFlight
from chime_kit.metrics import EVENTS_CONSUMED, HANDLER_SECONDS
from chime_kit.retiring import RetiredQueue
from chime_kit.telemetry import context_from, mark_service
from chime_kit.unit_of_work import Transaction, UnitOfWork
from chime_kit.unreachable import dependency_unavailable

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[UnitOfWork, Envelope[E]], Awaitable[None]]
TransactionFactory = Callable[[], AbstractAsyncContextManager[Transaction]]
# Settling a message on a channel that has gone (the broker dropped the connection) fails;
# the broker redelivers it and the inbox drops what was already applied.
SETTLE_ERRORS = (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError)

# How long stopping waits for the batch being applied.
STOP_SECONDS = 10.0
# Waiting for an unreachable database: the first pause, the longest, and how long one
# "are you there" query may take.
DATABASE_RETRY_FIRST_SECONDS = 0.1
DATABASE_RETRY_MAX_SECONDS = 5.0
DATABASE_PROBE_SECONDS = 5.0


class DatabaseUnreachable(Exception):
    """Applying a batch failed because PostgreSQL cannot be reached (the cause says how)."""


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    POISON = "poison"
    ERROR = "error"


@dataclass(frozen=True)
class Received(Generic[E]):
    """A message taken from the queue; `envelope` is None when it is not a valid one."""

    envelope: Envelope[E] | None
    headers: Mapping[str, Any]
    message: AbstractIncomingMessage | None = None


@dataclass(frozen=True)
class Route(Generic[E]):
    """One handler a queue feeds: the messages it wants (`binding`, default every refinement
    of the consumer's event) and the name its inbox rows are claimed under."""

    handler: Handler[E]
    inbox: str
    binding: str | None = None


class Router:
    """Collects a service's consumers; `Broker.include_router` takes them."""

    def __init__(self) -> None:
        self.consumers: list[Consumer[Any]] = []


class Consumer(Generic[E]):
    """Binds `queue` to `event`'s routing key and applies each event once.

    `handler` (claimed under the queue's name, bound to `binding`) or `routes` (several
    handlers, each with its own binding and inbox name) say what applies a message.

    A message that is not a valid envelope of `event` is poison: rejected straight to the
    dead-letter queue. A handler exception nacks with requeue; the queue's delivery limit
    then dead-letters it. A redelivered event already in the inbox is acknowledged unapplied.
    `in_flight` follows the event times of the messages taken and not yet stored.
    """

    def __init__(
        self,
        *,
        service: str,
        queue: str,
        event: type[E],
        transaction: TransactionFactory,
        delivery_limit: int,
        batch_size: int,
        in_flight: InFlight,
        handler: Handler[E] | None = None,
        binding: str | None = None,
        routes: Sequence[Route[E]] = (),
        retired: Sequence[str] = (),
    ) -> None:
        if (handler is None) == (not routes):
            raise ValueError("a consumer takes either a handler or routes")
        if handler is not None:
            routes = [Route(handler, inbox=queue, binding=binding)]
        if len({route.inbox for route in routes}) != len(routes):
            raise ValueError(f"two routes of {queue} claim under the same inbox name")
        self.service = service
        self.queue = queue
        # Every message of the event's type unless a route narrows it (to one source).
        everything = every_refinement_of(event.type_name())
        self.routes = tuple(
            Route(r.handler, inbox=r.inbox, binding=r.binding or everything) for r in routes
        )
        # RabbitMQ routes a message to a queue once however many of its bindings match.
        self.bindings = list(dict.fromkeys(r.binding for r in self.routes if r.binding))
        self._routes_of_key: dict[str, tuple[Route[E], ...]] = {}
        # Queues the routes were consumed from before (named as their inbox): unbound,
        # drained here and deleted (`chime_kit.retiring`).
        self.retired = [
            RetiredQueue(
                name,
                [r.binding for r in self.routes if r.inbox == name and r.binding] or self.bindings,
                delivery_limit=delivery_limit,
                on_message=self._on_message,
                idle=self._idle,
            )
            for name in retired
        ]
        self._busy = False
        self.transaction = transaction
        self.delivery_limit = delivery_limit
        self.batch_size = batch_size
        self.in_flight = in_flight
        self._envelope_type: type[Envelope[E]] = Envelope[event]  # type: ignore[valid-type]
        self._tracer = trace.get_tracer("chime.consumer")
        self._buffer: deque[Received[E]] = deque()
        self._arrived = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._amqp_queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        # Nacks waiting out their backoff pause; while any wait, acks must not be `multiple`.
        self._delayed: set[asyncio.Task[None]] = set()

    # -- on the broker ---------------------------------------------------------------------

    async def start(self, connection: AbstractRobustConnection, *, prefetch: int) -> None:
        self._stopping = False
        self._stopped.clear()
        self._channel = await connection.channel()
        await self._channel.set_qos(prefetch_count=prefetch)
        self._amqp_queue = await declare_consumer_queue(
            self._channel, self.queue, self.bindings, delivery_limit=self.delivery_limit
        )
        await declare_dead_letter_queue(self._channel, self.queue)
        self._worker = asyncio.create_task(self._work(), name=f"consumer-{self.queue}")
        self._consumer_tag = await self._amqp_queue.consume(self._on_message)
        for retired in self.retired:  # only once this queue is bound: nothing falls between
            retired.start(connection, prefetch=prefetch)

    def _idle(self) -> bool:
        """Whether every message taken is settled (no batch, buffer or nack pending)."""
        return not (self._buffer or self._busy or self._delayed)

    async def stop(self) -> None:
        """Stop taking messages, finish the batch being applied; the rest go back unacked."""
        self._stopping = True
        self._stopped.set()  # ends a wait for the database at once
        for retired in self.retired:
            await retired.stop()
        if self._amqp_queue is not None and self._consumer_tag is not None:
            try:
                await self._amqp_queue.cancel(self._consumer_tag)
            except SETTLE_ERRORS as exc:
                log.warning("cancelling the consumer of %s failed: %r", self.queue, exc)
            self._consumer_tag = None  # a second stop must not cancel on a closed channel
        self._arrived.set()
        if self._worker is not None:
            try:
                # A handler that hangs must not hang the shutdown; its batch is not acked.
                await asyncio.wait_for(self._worker, STOP_SECONDS)
            except TimeoutError:
                log.warning("consumer of %s stopped within a batch; it is redelivered", self.queue)
            self._worker = None
        for task in self._delayed:
            task.cancel()
        self._delayed.clear()
        while self._buffer:
            self._leave(self._buffer.popleft())
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    def wants(self, routing_key: str) -> bool:
        """Whether a message published under `routing_key` reaches this queue."""
        return bool(self._routes_for(routing_key))

    def _routes_for(self, routing_key: str) -> tuple[Route[E], ...]:
        """The routes whose binding matches `routing_key` (a few keys per event: cached)."""
        found = self._routes_of_key.get(routing_key)
        if found is None:
            found = tuple(r for r in self.routes if topic_matches(r.binding or "", routing_key))
            self._routes_of_key[routing_key] = found
        return found

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # Nothing here awaits before the append: messages reach the buffer in delivery order.
        received = self._receive(message.body, message.headers, message)
        self._buffer.append(received)
        self._arrived.set()

    async def _work(self) -> None:
        while True:
            if not self._buffer:
                if self._stopping:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if self._stopping:
                return
            batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
            self._busy = True
            try:
                outcomes = await self._apply_when_reachable(batch)
                if outcomes is None:  # stopping: the batch goes back unacked
                    for received in batch:
                        self._leave(received)
                    return
                await self._settle(batch, outcomes)
            except Exception:
                # Not expected (apply isolates failures); the messages stay unacked and come
                # back when the channel closes, so the loop must live on.
                log.exception("consumer of %s failed on a batch", self.queue)
            finally:
                self._busy = False

    async def _apply_when_reachable(self, batch: Sequence[Received[E]]) -> list[Outcome] | None:
        """Apply `batch`, waiting out a database outage; None when stopped while waiting."""
        pause = DATABASE_RETRY_FIRST_SECONDS
        waited = False
        while not self._stopping:
            try:
                return await self.apply(batch, hold_when_unreachable=True)
            except DatabaseUnreachable as exc:
                if not waited and await self._database_answers():
                    # The database is there: the error is the handler's own (some other
                    # link it uses), so it counts towards the delivery limit as usual.
                    return await self.apply(batch)
                if not waited:
                    log.warning(
                        "the database is unreachable (%r); %s keeps its %d messages and waits",
                        exc.__cause__,
                        self.queue,
                        len(batch),
                    )
                waited = True
            while not await self._pause(pause) and not await self._database_answers():
                pause = min(DATABASE_RETRY_MAX_SECONDS, pause * 2)
        return None

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds`; True (at once) when the consumer is stopping."""
        try:
            await asyncio.wait_for(self._stopped.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_PROBE_SECONDS), self.transaction() as tx:
                await tx.conn.fetchval("SELECT 1")
        except Exception as exc:
            # Any other error came from a server that answered.
            return not dependency_unavailable(exc)
        return True

    async def _settle(self, batch: Sequence[Received[E]], outcomes: Sequence[Outcome]) -> None:
        settled = list(zip(batch, outcomes, strict=True))
        done = [r for r, o in settled if o in (Outcome.APPLIED, Outcome.DUPLICATE)]
        failed = [r for r, o in settled if o is Outcome.ERROR]
        # Rejected (to the dead-letter queue) before the ack below, which would cover them.
        for received in (r for r, o in settled if o is Outcome.POISON):
            await _settle(received, "reject")
        for received in failed:
            task = asyncio.create_task(self._nack_later(received))
            self._delayed.add(task)
            task.add_done_callback(self._delayed.discard)
        if not done:
            return
        if self._delayed:
            # A multiple ack would also ack the failed messages waiting for their nack.
            for received in done:
                await _settle(received, "ack")
            return
        # Every earlier delivery on the channel is settled, so one ack covers the batch.
        # After a reconnect a batch can hold deliveries of the old channel too.
        last_per_channel: dict[int, Received[E]] = {}
        for received in done:
            last_per_channel[_channel_of(received)] = received
        for received in last_per_channel.values():
            await _settle(received, "ack_multiple")

    async def _nack_later(self, received: Received[E]) -> None:
        # A short pause before the nack, growing with the quorum queue's delivery count, so
        # a failure that passes (a database restart) does not use up the delivery limit.
        count = int(received.headers.get("x-delivery-count", 0) or 0)
        await asyncio.sleep(min(2.0, 0.05 * 2**count))
        await _settle(received, "nack")

    # -- in process --------------------------------------------------------------------------

    def _receive(
        self,
        body: bytes,
        headers: Mapping[str, Any] | None,
        message: AbstractIncomingMessage | None = None,
    ) -> Received[E]:
        try:
            envelope = self._envelope_type.model_validate_json(body)
        except ValidationError as exc:
            log.error("poison message on %s dead-lettered: %s", self.queue, exc.errors()[:3])
            EVENTS_CONSUMED.labels(self.service, self.queue, Outcome.POISON).inc()
            return Received(None, headers or {}, message)
        # Tracked from arrival, so an earlier message is in flight before a later one commits.
        self.in_flight.enter(envelope.occurred_at)
        return Received(envelope, headers or {}, message)

    def _leave(self, received: Received[E]) -> None:
        if received.envelope is not None:
            self.in_flight.leave(received.envelope.occurred_at)

    async def deliver(
        self, *bodies: Envelope[Any] | bytes, headers: Mapping[str, Any] | None = None
    ) -> list[Outcome]:
        """Apply `bodies` as one batch without a broker (tests); returns their outcomes."""
        batch = [
            self._receive(b.model_dump_json().encode() if isinstance(b, Envelope) else b, headers)
            for b in bodies
        ]
        return await self.apply(batch)

    async def apply(
        self, batch: Sequence[Received[E]], *, hold_when_unreachable: bool = False
    ) -> list[Outcome]:
        """Apply the valid envelopes of `batch` in order; each leaves `in_flight` when done.

        With `hold_when_unreachable`, a failure of the database link raises
        DatabaseUnreachable instead of counting as the handler's error; the messages stay in
        flight (what was committed before it is a duplicate when the batch comes again).
        """
        valid = [r for r in batch if r.envelope is not None]
        outcomes: dict[int, Outcome] = {}
        if len(valid) > 1:
            try:
                outcomes = await self._apply_together(valid)
            except Exception as exc:
                if hold_when_unreachable and dependency_unavailable(exc):
                    raise DatabaseUnreachable from exc
                log.warning(
                    "a batch of %d on %s failed (%r); applying its messages one by one",
                    len(valid),
                    self.queue,
                    exc,
                )
        for received in valid:
            if id(received) not in outcomes:
                outcomes[id(received)] = await self._apply_alone(received, hold_when_unreachable)
        for received in valid:
            self._leave(received)
            EVENTS_CONSUMED.labels(self.service, self.queue, outcomes[id(received)]).inc()
        return [outcomes.get(id(r), Outcome.POISON) for r in batch]

    async def _apply_together(self, batch: Sequence[Received[E]]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        async with self.transaction() as tx:
            # One statement claims the batch; its rows roll back with the batch if it fails,
            # so the one-by-one retry claims afresh.
            fresh = await claim_all(tx.conn, [claim for r in batch for claim in self._claims_of(r)])
            for received in batch:
                # Only the first of an event sent twice within the batch is applied.
                claimed = [c for c in self._claims_of(received) if c in fresh]
                fresh.difference_update(claimed)
                outcomes[id(received)] = await self._handle(tx, received, claimed=claimed)
        return outcomes

    def _claims_of(self, received: Received[E]) -> list[tuple[str, str]]:
        """(inbox name, event id) of each route the message reaches, in route order."""
        envelope = received.envelope
        assert envelope is not None
        return [(r.inbox, envelope.id) for r in self._routes_for(envelope.routing_key)]

    async def _apply_alone(self, received: Received[E], hold_when_unreachable: bool) -> Outcome:
        try:
            async with self.transaction() as tx:
                return await self._handle(tx, received)
        except Exception as exc:
            if hold_when_unreachable and dependency_unavailable(exc):
                raise DatabaseUnreachable from exc
            assert received.envelope is not None
            log.exception(
                "handling %s on %s failed; it will be redelivered",
                received.envelope.id,
                self.queue,
            )
            return Outcome.ERROR

    async def _handle(
        self,
        tx: Transaction,
        received: Received[E],
        *,
        claimed: Sequence[tuple[str, str]] | None = None,
    ) -> Outcome:
        """Apply one message in `tx` with each route that claimed it; `claimed` is the
        batch's claims of this message, None to claim it here."""
        envelope = received.envelope
        assert envelope is not None
        with self._span(envelope, received.headers):
            started = time.perf_counter()
            uow = tx.unit(envelope)
            claims = self._claims_of(received)
            if claimed is None:
                claimed = list(await claim_all(uow.conn, claims)) if claims else []
            if claims and not claimed:
                return Outcome.DUPLICATE
            fresh = {inbox for inbox, _ in claimed}
            for route in self._routes_for(envelope.routing_key):
                if route.inbox in fresh:
                    await route.handler(uow, envelope)
            HANDLER_SECONDS.labels(self.service, self.queue).observe(time.perf_counter() - started)
            return Outcome.APPLIED

    @contextmanager
    def _span(self, envelope: Envelope[E], headers: Mapping[str, Any]) -> Iterator[None]:
        """One span per message, continuing the producer's trace even within a batch (an
        instrumentation of the delivery callback would end its span at the buffer)."""
        with self._tracer.start_as_current_span(
            f"consume {envelope.type}",
            context=context_from(dict(headers)),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.destination.name": self.queue, "chime.event_id": envelope.id},
        ) as span:
            mark_service(span, self.service)
            yield


async def _settle(received: Received[Any], how: str) -> None:
    message = received.message
    if message is None:
        return
    try:
        if how == "ack_multiple":
            await message.ack(multiple=True)
        elif how == "ack":
            await message.ack()
        elif how == "nack":
            await message.nack(requeue=True)
        else:
            await message.reject(requeue=False)
    except SETTLE_ERRORS as exc:
        log.warning("settling a message failed (%r); the broker will redeliver it", exc)


def _channel_of(received: Received[Any]) -> int:
    try:
        return id(received.message.channel) if received.message is not None else 0
    except SETTLE_ERRORS:
        return 0  # closed: its ack fails and the broker redelivers


async def claim_all(conn: Connection, claims: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Insert the inbox rows (consumer, event id) of a batch in one statement; those not
    claimed before."""
    unique = list(dict.fromkeys(claims))
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id) SELECT * FROM unnest($1::text[], $2::text[])"
        " ON CONFLICT DO NOTHING RETURNING consumer, event_id",
        [consumer for consumer, _ in unique],
        [event_id for _, event_id in unique],
    )
    return {(row["consumer"], row["event_id"]) for row in rows}

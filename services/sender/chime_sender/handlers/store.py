"""Storing requests: record each in its delivery's stream once, and queue it for sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import (
    MessageDeleteRequested,
    MessageEditRequested,
    NotificationDue,
    SendBatchRequested,
    SendFailed,
    SendRequested,
)
from chime_contracts.events.shared import BatchDelivery, SendSource
from chime_kit.event_store import Append, ConcurrencyError
from chime_kit.streams import Work, decide
from chime_kit.telemetry import context_from_traceparent, current_traceparent, mark_service
from chime_sender.domain import streams
from chime_sender.domain.deliveries import Delivery
from chime_sender.domain.messages import keyboard, parts_of, render, rendered
from chime_sender.handlers import assignments
from chime_sender.ports import Queued, SentMessage, Stores
from chime_sender.settings import SERVICE

tracer = trace.get_tracer("chime.sender")


class Stored(Enum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # this delivery id was requested before: nothing more is sent
    REFUSED = "refused"  # it can never be done (an edit of a message never sent): failed


@dataclass(frozen=True)
class Request:
    """A send request to store: its delivery, and the unit of work it arrived in."""

    work: Work
    delivery: Delivery
    origin: str
    received: Envelope[Any]
    requested_at: datetime

    def queued(self) -> Queued:
        d = self.delivery
        parts = len(parts_of(d.text, d.method, d.parse_mode))
        return Queued(d, self.origin, parts, self.requested_at, 1)


class Requests:
    """The send requests of one transaction (a consumer's batch), stored together just
    before it commits: the pools checked in one statement, the queue rows written in one,
    the streams' first events appended in one, their log rows in one, whatever the batch's
    size. The queue row and the stream's first event are only ever written together, so a
    queue row that is new is a stream that is new; the request is appended at version 0
    without loading the stream (a race would still fail the append, never fork it)."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.pending: list[Request] = []

    async def flush(self) -> None:
        await self.store()

    async def store(self) -> list[Stored]:
        """Store the requests gathered; what became of each, in order."""
        pending, self.pending = self.pending, []
        stores = self.stores
        checked = [
            (r.delivery.bot_id, r.delivery.chat_id) for r in pending
            if assignments.checked(r.delivery)
        ]  # fmt: skip
        misrouted = await stores.assignments.misrouted_pairs(checked) if checked else {}
        stored: dict[int, Stored] = {}
        fresh: dict[str, tuple[int, Request]] = {}  # the first of each delivery id
        for n, r in enumerate(pending):
            d = r.delivery
            if (why := misrouted.get((d.bot_id, d.chat_id))) and assignments.checked(d):
                # Through a bot of its pool the chat never started: failed at once.
                refused = await assignments.refuse(r.work, stores, d, r.received, why)
                stored[n] = Stored(refused)
            elif d.delivery_id in fresh:
                stored[n] = Stored.DUPLICATE
            else:
                fresh[d.delivery_id] = (n, r)
        if len(fresh) == 1:
            [(n, r)] = fresh.values()
            stored[n] = await _queue(r.work, stores, r)
        elif fresh:
            work = next(iter(fresh.values()))[1].work
            try:
                async with work.attempt():
                    added = await stores.deliveries.add_many(
                        [r.queued() for _, r in fresh.values()]
                    )
                    recorded = await work.append([
                        Append(streams.delivery_stream(id), 0, [r.received])
                        for id, (_, r) in fresh.items() if id in added
                    ])  # fmt: skip
                await stores.log.apply(recorded)
                for id, (n, _) in fresh.items():
                    stored[n] = Stored.QUEUED if id in added else Stored.DUPLICATE
            except ConcurrencyError:
                # A stream without its queue row: each alone, as `_queue` fails such a one.
                for n, r in fresh.values():
                    stored[n] = await _queue(r.work, stores, r)
        return [stored[n] for n in range(len(pending))]


async def _queue(work: Work, stores: Stores, request: Request) -> Stored:
    q = request.queued()
    if not await stores.deliveries.add(q.delivery, q.origin, q.parts_total, q.requested_at, 1):
        return Stored.DUPLICATE
    recorded = await work.append(
        [Append(streams.delivery_stream(q.delivery.delivery_id), 0, [request.received])]
    )
    await stores.log.apply(recorded)
    return Stored.QUEUED


async def _store(work: Work, stores: Stores, request: Request) -> Stored:
    """One request alone (a batch of one)."""
    requests = Requests(stores)
    requests.pending.append(request)
    [stored] = await requests.store()
    return stored


async def _record_request(
    work: Work, stores: Stores, delivery_id: str, received: Envelope[Any]
) -> int | None:
    """Record the request in the delivery's stream; the stream's version, or None when this
    delivery id was requested before."""
    decided = await decide(
        work,
        streams.delivery_stream(delivery_id),
        streams.DELIVERY,
        lambda state: streams.request(state, received),
        project=stores.log.apply,
    )
    return decided.version if decided.recorded else None


def send_request(work: Work, envelope: Envelope[SendRequested]) -> Request:
    request = envelope.data
    text, method, options = rendered(request)
    delivery = Delivery(
        delivery_id=request.delivery_id,
        bot_id=request.bot_id,
        chat_id=request.chat_id,
        text=text,
        parse_mode=request.parse_mode,
        reply_to_message_id=request.reply_to_message_id,
        correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0],
        source=request.source,
        method=method,
        options=options,
    )
    return Request(work, delivery, request.origin, envelope, envelope.occurred_at)


def due_notification(work: Work, envelope: Envelope[NotificationDue]) -> Request:
    due = envelope.data
    delivery = Delivery(
        delivery_id=due.delivery_id,
        bot_id=due.bot_id,
        chat_id=due.chat_id,
        text=due.text,
        parse_mode=None,
        reply_to_message_id=None,
        correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0],
    )
    origin = f"scheduler.{due.source}"
    return Request(work, delivery, origin, envelope, envelope.occurred_at)


async def store_send_request(
    work: Work, stores: Stores, envelope: Envelope[SendRequested]
) -> Stored:
    return await _store(work, stores, send_request(work, envelope))


async def store_due_notification(
    work: Work, stores: Stores, envelope: Envelope[NotificationDue]
) -> Stored:
    return await _store(work, stores, due_notification(work, envelope))


async def store_send_batch(
    work: Work, stores: Stores, envelope: Envelope[SendBatchRequested]
) -> int:
    """One delivery per chat, `<batch_id>:<chat_id>`, each with its own stream; or, when the
    batch lists `deliveries` (a firing batch's occurrences), exactly those, each by its own
    id, message, source, correlation id and trace. Returns how many were queued. Each stream
    records the request as the sender split it from the batch. A chat the batch's bot may not
    reach (a bot of the chat's pool it never started: one lookup for the whole batch) fails
    at once in its stream and is never queued."""
    batch = envelope.data
    traces: dict[str, tuple[str | None, str]] = {}  # delivery id: (traceparent, correlation)
    if batch.deliveries is not None:
        requests = []
        first: dict[str, BatchDelivery] = {}
        for d in batch.deliveries:
            first.setdefault(d.delivery_id, d)
        for d in first.values():
            requests.append(SendRequested(
                delivery_id=d.delivery_id, bot_id=batch.bot_id, chat_id=d.chat_id, text=d.text,
                parse_mode=d.parse_mode, origin=f"{envelope.producer}.{d.source.kind}",
                source=d.source, variables=d.variables, buttons=d.buttons, media=d.media,
                disable_notification=d.disable_notification,
                protect_content=batch.protect_content,
                disable_link_preview=batch.disable_link_preview, scheduled_for=d.scheduled_for,
            ))  # fmt: skip
            traces[d.delivery_id] = (
                d.traceparent or envelope.traceparent,
                d.correlation_id or envelope.correlation_id,
            )
    else:
        requests = [
            SendRequested(
                delivery_id=f"{batch.batch_id}:{chat_id}", bot_id=batch.bot_id, chat_id=chat_id,
                text=batch.text, parse_mode=batch.parse_mode, origin=f"{envelope.producer}.batch",
                source=batch.source, variables=batch.variables, buttons=batch.buttons,
                media=batch.media, disable_notification=batch.disable_notification,
                protect_content=batch.protect_content,
                disable_link_preview=batch.disable_link_preview,
                scheduled_for=batch.scheduled_for,
            )
            for chat_id in dict.fromkeys(batch.chat_ids)
        ]  # fmt: skip
    for r in requests:
        traces.setdefault(r.delivery_id, (envelope.traceparent, envelope.correlation_id))
    envelopes = [
        envelope_of(r, producer=envelope.producer, correlation_id=traces[r.delivery_id][1],
                    causation=envelope, traceparent=traces[r.delivery_id][0])
        for r in requests
    ]  # fmt: skip
    refused = await assignments.refused_chats(
        stores, batch.bot_id, [r.chat_id for r in requests], batch.source
    )
    failures = {
        r.delivery_id: work.wrap(
            assignments.failure(r.delivery_id, r.bot_id, r.chat_id, refused[r.chat_id], r.source),
            traces[r.delivery_id][1],
        )
        for r in requests
        if r.chat_id in refused
    }
    paid = {"allow_paid_broadcast": True} if batch.paid_broadcast else {}
    try:
        # New streams in one statement; one that exists already (a batch id used twice)
        # makes every request go through `decide`, which skips it.
        async with work.attempt():
            recorded = await work.append(
                [Append(streams.delivery_stream(r.delivery_id), 0,
                        [e, failures[r.delivery_id]] if r.delivery_id in failures else [e])
                 for r, e in zip(requests, envelopes, strict=True)]
            )  # fmt: skip
            await stores.log.apply(recorded)
        fresh = list(zip(requests, [1] * len(requests), strict=True))
    except ConcurrencyError:
        fresh = []
        for r, e in zip(requests, envelopes, strict=True):
            version = await _record_request(work, stores, r.delivery_id, e)
            if version is None:
                continue
            fresh.append((r, version))
            if r.delivery_id in failures:
                stream = streams.delivery_stream(r.delivery_id)
                failed = [Append(stream, version, [failures[r.delivery_id]])]
                await stores.log.apply(await work.append(failed))
    if refused_now := [failures[r.delivery_id] for r, _ in fresh if r.delivery_id in failures]:
        await work.publish(refused_now)
    # A slice renders its one message once; a batch of deliveries renders each of its own.
    same = rendered(requests[0]) if batch.deliveries is None else None
    queued = [(r, version) for r, version in fresh if r.delivery_id not in failures]
    rows: list[Queued] = []
    for r, version in queued:
        text, method, options = same or rendered(r)
        traceparent, correlation_id = traces[r.delivery_id]
        if batch.deliveries is not None:
            # Each delivery's own trace (its firing span) gets the span of the sender taking
            # its request, as a send.requested.v1 of its own would: the call continues it.
            traceparent = _received_in(traceparent, r, batch.batch_id)
        delivery = Delivery(
            delivery_id=r.delivery_id, bot_id=r.bot_id, chat_id=r.chat_id, text=text,
            parse_mode=r.parse_mode, reply_to_message_id=None, correlation_id=correlation_id,
            traceparent=current_traceparent()[0] if batch.deliveries is None else traceparent,
            source=r.source, method=method, options=options | paid,
        )  # fmt: skip
        parts = len(parts_of(text, method, r.parse_mode))
        rows.append(Queued(delivery, r.origin, parts, envelope.occurred_at, version))
    await stores.deliveries.add_many(rows)  # one statement for the whole batch
    return len(queued)


def _received_in(traceparent: str | None, request: SendRequested, batch_id: str) -> str | None:
    """A consumer span of one delivery of a batch, in the delivery's own trace; its
    traceparent."""
    with tracer.start_as_current_span(
        f"consume {request.type}", context=context_from_traceparent(traceparent),
        kind=SpanKind.CONSUMER,
        attributes={"chime.delivery_id": request.delivery_id, "chime.batch_id": batch_id},
    ) as span:  # fmt: skip
        mark_service(span, SERVICE)
        return current_traceparent()[0]


async def store_edit(
    work: Work, stores: Stores, envelope: Envelope[MessageEditRequested]
) -> Stored:
    """An edit is a delivery of its own (`edit:<edit_id>`), paced like a send, on the message
    named by delivery id (once it was sent) or by Telegram's ids."""
    edit = envelope.data
    target = await _target(stores, edit.delivery_id, edit.bot_id, edit.chat_id, edit.message_id)
    options: dict[str, Any] = {}
    if target is not None:
        options["message_id"] = target.message_id
        if edit.buttons is not None:
            options["reply_markup"] = keyboard(edit.buttons)
        elif "reply_markup" in target.options:  # None keeps the keyboard it was sent with
            options["reply_markup"] = target.options["reply_markup"]
    text = render(edit.text, edit.variables, edit.parse_mode) if edit.text else ""
    method = "editMessageText" if edit.text else "editMessageReplyMarkup"
    return await _store_change(
        work, stores, envelope, f"edit:{edit.edit_id}", target, method, text, options,
        edit.parse_mode, edit.source,
    )  # fmt: skip


async def store_delete(
    work: Work, stores: Stores, envelope: Envelope[MessageDeleteRequested]
) -> Stored:
    delete = envelope.data
    target = await _target(stores, delete.delivery_id, None, None, None)
    options = {"message_id": target.message_id} if target is not None else {}
    return await _store_change(
        work, stores, envelope, f"delete:{delete.delete_id}", target, "deleteMessage", "",
        options, None, delete.source,
    )  # fmt: skip


async def _target(
    stores: Stores,
    delivery_id: str | None,
    bot_id: int | None,
    chat_id: int | None,
    message_id: int | None,
) -> SentMessage | None:
    if delivery_id is not None:
        return await stores.deliveries.sent_message(delivery_id)
    assert bot_id is not None
    assert chat_id is not None
    assert message_id is not None
    return SentMessage(bot_id, chat_id, message_id, {})


async def _store_change(
    work: Work,
    stores: Stores,
    envelope: Envelope[Any],
    delivery_id: str,
    target: SentMessage | None,
    method: str,
    text: str,
    options: dict[str, Any],
    parse_mode: str | None,
    source: SendSource | None,
) -> Stored:
    version = await _record_request(work, stores, delivery_id, envelope)
    if version is None:
        return Stored.DUPLICATE
    if target is None:
        # Nothing Chime sent by that delivery id (unknown, failed, or not sent yet).
        failed = SendFailed(
            delivery_id=delivery_id, bot_id=0, chat_id=0, permanent=True, attempts=0,
            reason="no message sent by that delivery to change", failed_at=datetime.now(UTC),
            source=source,
        )  # fmt: skip
        with_event = work.wrap(failed, envelope.correlation_id)
        recorded = await work.append(
            [Append(streams.delivery_stream(delivery_id), version, [with_event])]
        )
        await work.publish([r.envelope for r in recorded])
        return Stored.REFUSED
    delivery = Delivery(
        delivery_id=delivery_id, bot_id=target.bot_id, chat_id=target.chat_id, text=text,
        parse_mode=parse_mode, reply_to_message_id=None, correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0], source=source, method=method, options=options,
    )  # fmt: skip
    await stores.deliveries.add(
        delivery, f"{envelope.producer}.{method}", 1, envelope.occurred_at, version
    )
    return Stored.QUEUED

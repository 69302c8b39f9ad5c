"""Firing what is due: schedules' occurrences, timed broadcasts. No framework imports.

One transaction per batch: the claim (rows locked, replicas skip them), the events appended
to each stream at the version the projection row holds, the projection moved to each
schedule's next occurrence, and the outbox rows. A replica killed mid-batch leaves nothing;
the rows stay due for the next claim.

Each schedule (and timed broadcast) fires in a trace of its own whose span links to the
span of the request that created it (and of the last that updated it); the events it emits
are wrapped within that span, so the deliveries continue its trace. A batch's occurrences
for chats go to the sender as one `send.batch.requested.v1` per bot (not one message per
occurrence), each delivery carrying its firing span's traceparent and its schedule's
correlation id; each occurrence's identity stays its `schedule.fired.v1` in the stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from opentelemetry import trace
from pydantic import TypeAdapter

from chime_contracts.envelope import Envelope, Event, endless_ids, envelope_class
from chime_contracts.events import (
    BroadcastFinished,
    BroadcastStarted,
    ScheduleChanged,
    ScheduleFired,
)
from chime_contracts.events.schedules import MessageTemplate, ScheduleOwner, ScheduleSpec
from chime_contracts.events.shared import BatchDelivery
from chime_kit.event_store import Append
from chime_kit.streams import Work
from chime_kit.telemetry import continuing, current_traceparent, linked_span, mark_service
from chime_scheduler.domain import broadcasts, messages, schedules
from chime_scheduler.domain.trusted import trusted
from chime_scheduler.ports import DueSchedule, HeldSlice, Store, apply_all
from chime_schedules import Spec, Timetable, timetable

_SPEC: TypeAdapter[Spec] = TypeAdapter(ScheduleSpec)
tracer = trace.get_tracer("chime.scheduler")


@lru_cache(maxsize=20_000)
def _timetable(spec: bytes, time_zone: str, starts_on: date | None, ends_on: date | None
               ) -> Timetable:  # fmt: skip
    """Schedules share specs ("0 9 * * 1-5"): each is parsed once per process."""
    return timetable(_SPEC.validate_json(spec), time_zone, starts_on=starts_on, ends_on=ends_on)


@dataclass(frozen=True)
class _Remembered:
    """A shared timetable whose next occurrences are computed once per process: schedules
    that share a spec and zone (every "0 9 * * *" in Europe/Kyiv) fire at the same instants
    and move on to the same next one."""

    key: tuple[bytes, str, date | None, date | None]

    def next_after(self, instant: datetime) -> datetime | None:
        return _next_after(self.key, instant)


@lru_cache(maxsize=50_000)
def _next_after(key: tuple[bytes, str, date | None, date | None], instant: datetime
                ) -> datetime | None:  # fmt: skip
    return _timetable(*key).next_after(instant)


@lru_cache(maxsize=20_000)
def _message(message: bytes) -> MessageTemplate:
    return MessageTemplate.model_validate_json(message)


@dataclass(frozen=True)
class Fired:
    """One occurrence fired: for the lag metric."""

    source: str
    occurrence: datetime


@dataclass
class Batch:
    """What one firing transaction appends and publishes."""

    appends: list[Append]
    publish: list[Envelope[Any]]
    fired: list[Fired]
    # Occurrences for chats, by bot: one send.batch.requested.v1 per bot for the batch.
    sends: dict[int, list[BatchDelivery]] = field(default_factory=dict)
    # The batch's first fired event as the unit of work wrapped it: the others copy it.
    wrapped: Envelope[Any] | None = None


async def fire_due_schedules(
    uow: Work, store: Store, now: datetime, limit: int, on_time: timedelta
) -> list[Fired]:
    """Fire up to `limit` due schedules, each occurrence once, by their misfire policies."""
    claimed = await store.schedules.claim_due(now, limit)
    batch = Batch([], [], [])
    ids = endless_ids()
    for row in claimed:
        with linked_span(
            tracer, "fire schedule", row.traceparent, row.updated_traceparent,
            **{"chime.schedule_id": row.id},
        ) as span:  # fmt: skip
            mark_service(span, "scheduler")
            await _fire(uow, store, row, now, on_time, batch, ids)
    recorded = await uow.append(batch.appends)
    batch.publish.extend(uow.wrap(b) for b in messages.batches(batch.sends))
    await uow.publish(batch.publish)
    await apply_all(store, recorded)
    return batch.fired


async def _fire(
    uow: Work, store: Store, row: DueSchedule, now: datetime, on_time: timedelta, batch: Batch,
    ids: Iterator[str],
) -> None:  # fmt: skip
    table = _Remembered((orjson.dumps(row.spec), row.time_zone, row.starts_on, row.ends_on))
    plan = schedules.plan(
        table, row.next_at, now, row.misfire,
        timedelta(seconds=row.misfire_grace_seconds),
        on_time + timedelta(seconds=row.jitter_seconds),
    )  # fmt: skip
    message = _message(orjson.dumps(row.message))
    # The firing span's context, read once: every event of the occurrence carries it.
    traceparent, tracestate = current_traceparent()
    events: list[Envelope[Any]] = []
    for n, occurrence in enumerate(plan.fire):
        following = plan.fire[n + 1] if n + 1 < len(plan.fire) else plan.next_at
        if row.topic is not None:
            delivery = f"{row.id}@{int(occurrence.timestamp())}"
            owner = ScheduleOwner(kind=row.owner_kind, id=row.owner_id)
            await start_broadcast(
                uow, store, delivery, owner, row.bot_id, row.topic, message, False, row.id,
                0, now, row.correlation_id, batch,
            )  # fmt: skip
        else:
            assert row.chat_id is not None
            delivery = messages.occurrence_id("schedule", row.id, occurrence)
            batch.sends.setdefault(row.bot_id, []).append(messages.batched_occurrence(
                "schedule", row.id, delivery, row.chat_id, message, occurrence, row.language,
                traceparent, row.correlation_id,
            ))  # fmt: skip
        fired = schedules.fired(
            row.id, occurrence, now, delivery, plan.missed if n == 0 else 0, following,
            row.jitter_seconds,
        )  # fmt: skip
        if batch.wrapped is None:
            batch.wrapped = uow.wrap(fired, row.correlation_id)
            events.append(batch.wrapped)
        else:
            # `uow.wrap(fired, row.correlation_id)` without validating again what is ours:
            # the producer and cause of the batch's first, wrapped by the unit of work.
            events.append(trusted(
                envelope_class(ScheduleFired), id=next(ids), type=fired.type,
                occurred_at=datetime.now(UTC), producer=batch.wrapped.producer,
                correlation_id=row.correlation_id, causation_id=batch.wrapped.causation_id,
                traceparent=traceparent, tracestate=tracestate, data=fired,
            ))  # fmt: skip
        batch.fired.append(Fired("schedule", occurrence))
    if not plan.fire:
        skipped = ScheduleChanged(
            schedule_id=row.id, change_id=f"misfire:{int(now.timestamp())}", action="skipped",
            by="misfire", status="active" if plan.next_at else "finished",
            next_at=plan.next_at,
            fire_at=schedules.fire_at(row.id, plan.next_at, row.jitter_seconds),
        )  # fmt: skip
        events.append(uow.wrap(skipped, row.correlation_id))
    batch.appends.append(Append(schedules.stream_id(row.id), row.version, events))


async def start_broadcast(
    uow: Work, store: Store, broadcast_id: str, owner: ScheduleOwner, bot_id: int, topic: str,
    message: MessageTemplate, paid: bool, schedule_id: str | None, version: int,
    now: datetime, correlation_id: str, batch: Batch,
) -> None:  # fmt: skip
    """Hand a broadcast to the sender: its recipients now, in slices, with an estimate;
    name the subscribers it leaves out (blocked, stopped)."""
    chat_ids, left_out = await store.subscriptions.recipients(bot_id, topic)
    skipped = len(left_out)
    slices = broadcasts.slices(broadcast_id, bot_id, chat_ids, message, paid, now)
    started = BroadcastStarted(
        broadcast_id=broadcast_id, owner=owner, bot_id=bot_id, topic=topic,
        schedule_id=schedule_id, recipients=len(chat_ids), skipped=skipped, slices=len(slices),
        started_at=now, estimated_finish_at=broadcasts.estimated_finish(now, len(chat_ids), paid),
    )  # fmt: skip
    events: list[Event] = [started]
    if not chat_ids:
        events.append(BroadcastFinished(
            broadcast_id=broadcast_id, handed=0, sent=0, failed=0, skipped=skipped,
            finished_at=now,
        ))  # fmt: skip
    envelopes = [uow.wrap(e, correlation_id) for e in events]
    batch.appends.append(Append(broadcasts.stream_id(broadcast_id), version, envelopes))
    batch.publish.extend(envelopes)
    # Named, not kept in the stream (the count is): published with the start, like slices.
    for named in broadcasts.skipped_slices(broadcast_id, bot_id, left_out, now):
        batch.publish.append(uow.wrap(named, correlation_id))
    held: list[HeldSlice] = []
    for n, piece in enumerate(slices):
        at = broadcasts.hand_at(now, n, paid)
        if at <= now:
            batch.publish.append(uow.wrap(piece, correlation_id))
        else:
            held.append(HeldSlice(piece, at, correlation_id, current_traceparent()[0]))
    await store.broadcasts.hold_slices(held)
    await store.broadcasts.start_tally(broadcast_id, len(chat_ids))
    batch.fired.append(Fired("broadcast", now))


async def start_due_broadcasts(uow: Work, store: Store, now: datetime, limit: int) -> list[Fired]:
    """Start the timed broadcasts whose time came (the api's, requested for `at`)."""
    batch = Batch([], [], [])
    for row in await store.broadcasts.claim_due(now, limit):
        owner = ScheduleOwner(kind=row.owner_kind, id=row.owner_id)
        message = MessageTemplate.model_validate(row.message)
        with linked_span(
            tracer, "start broadcast", row.traceparent, **{"chime.broadcast_id": row.id}
        ) as span:
            mark_service(span, "scheduler")
            await start_broadcast(
                uow, store, row.id, owner, row.bot_id, row.topic, message, row.paid, None,
                row.version, now, row.correlation_id, batch,
            )  # fmt: skip
    recorded = await uow.append(batch.appends)
    await uow.publish(batch.publish)
    await apply_all(store, recorded)
    return batch.fired


async def hand_due_slices(uow: Work, store: Store, now: datetime, limit: int) -> int:
    """Hand the sender the held slices of started broadcasts whose time came; how many."""
    held = await store.broadcasts.claim_slices(now, limit)
    handed = []
    for h in held:
        with continuing(h.traceparent):  # the firing's trace, not a new one
            handed.append(uow.wrap(h.batch, h.correlation_id))
    await uow.publish(handed)
    return len(held)

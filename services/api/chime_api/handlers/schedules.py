"""Schedules, broadcasts and subscriptions: each request recorded in its stream (projected
at once) and published to the scheduler, which owns the real thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from chime_api.adapters.schedules import BroadcastRow, PostgresRequests, ScheduleRow
from chime_api.domain.keys import ApiKey
from chime_api.domain.schedules import (
    REQUEST,
    Action,
    Result,
    broadcast_stream,
    change,
    keep_result,
    new_broadcast_id,
    new_schedule_id,
    schedule_stream,
    stream_of_result,
    subscription_stream,
)
from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastRequested,
    ScheduleChangeRequested,
    ScheduleRequested,
    SubscriptionRequested,
)
from chime_contracts.events.schedules import (
    MessageTemplate,
    MisfirePolicy,
    ScheduleOwner,
    ScheduleSpec,
)
from chime_kit.db import Connection
from chime_kit.streams import decide
from chime_kit.unit_of_work import UnitOfWork


def _owner(key_id: str) -> ScheduleOwner:
    return ScheduleOwner(kind="api_key", id=key_id)


async def _record(uow: UnitOfWork, stream: str, event: Event, correlation_id: str) -> None:
    await decide(
        uow, stream, REQUEST, lambda _: [event], project=PostgresRequests(uow.conn).apply,
        correlation_id=correlation_id,
    )  # fmt: skip


@dataclass(frozen=True)
class NewSchedule:
    bot_id: int
    chat_id: int | None
    topic: str | None
    spec: ScheduleSpec
    time_zone: str
    message: MessageTemplate
    starts_on: date | None = None
    ends_on: date | None = None
    misfire: MisfirePolicy = "fire_late"
    misfire_grace_seconds: int = 300
    jitter_seconds: int = 0


async def create_schedule(uow: UnitOfWork, key: ApiKey, new: NewSchedule) -> ScheduleRow:
    sid = new_schedule_id()
    requested = ScheduleRequested(
        schedule_id=sid, owner=_owner(key.id), bot_id=new.bot_id, chat_id=new.chat_id,
        topic=new.topic, spec=new.spec, time_zone=new.time_zone, starts_on=new.starts_on,
        ends_on=new.ends_on, message=new.message, misfire=new.misfire,
        misfire_grace_seconds=new.misfire_grace_seconds, jitter_seconds=new.jitter_seconds,
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    await _record(uow, schedule_stream(sid), requested, sid)
    row = await PostgresRequests(uow.conn).schedule(sid)
    assert row is not None
    return row


async def get_schedule(conn: Connection, key: ApiKey, schedule_id: str) -> ScheduleRow | None:
    row = await PostgresRequests(conn).schedule(schedule_id)
    return row if row is not None and row.owner == key.owner else None


async def list_schedules(
    conn: Connection,
    key: ApiKey,
    limit: int,
    after: tuple[datetime, str] | None,
    status: str | None,
) -> tuple[list[ScheduleRow], bool]:
    rows = await PostgresRequests(conn).schedules(key.owner, limit + 1, after, status)
    return rows[:limit], len(rows) > limit


@dataclass(frozen=True)
class Update:
    spec: ScheduleSpec | None = None
    time_zone: str | None = None
    message: MessageTemplate | None = None
    ends_on: date | None = None


async def change_schedule(
    uow: UnitOfWork, key: ApiKey, schedule_id: str, action: Action, update: Update | None = None
) -> ScheduleRow | None:
    """None when the caller's owner has no such schedule; ClosedError once it is cancelled."""
    current = await get_schedule(uow.conn, key, schedule_id)
    if current is None:
        return None
    update = update or Update()
    event = ScheduleChangeRequested(
        change_id=f"chg_{new_schedule_id()[4:]}", schedule_id=schedule_id,
        owner=_owner(current.api_key_id), action=action, spec=update.spec,
        time_zone=update.time_zone, message=update.message, ends_on=update.ends_on,
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    await decide(
        uow, schedule_stream(schedule_id), REQUEST, lambda s: change(s, action, event),
        project=PostgresRequests(uow.conn).apply, correlation_id=schedule_id,
    )  # fmt: skip
    return await PostgresRequests(uow.conn).schedule(schedule_id)


async def create_broadcast(
    uow: UnitOfWork,
    key: ApiKey,
    bot_id: int,
    topic: str,
    message: MessageTemplate,
    at: datetime | None,
    paid: bool = False,
) -> BroadcastRow:
    bid = new_broadcast_id()
    requested = BroadcastRequested(
        broadcast_id=bid, owner=_owner(key.id), bot_id=bot_id, topic=topic, message=message,
        at=at, paid_broadcast=paid, requested_at=datetime.now(UTC),
    )  # fmt: skip
    await _record(uow, broadcast_stream(bid), requested, bid)
    row = await PostgresRequests(uow.conn).broadcast(bid)
    assert row is not None
    return row


async def get_broadcast(conn: Connection, key: ApiKey, broadcast_id: str) -> BroadcastRow | None:
    row = await PostgresRequests(conn).broadcast(broadcast_id)
    return row if row is not None and row.owner == key.owner else None


async def list_broadcasts(
    conn: Connection, key: ApiKey, limit: int, after: tuple[datetime, str] | None, topic: str | None
) -> tuple[list[BroadcastRow], bool]:
    rows = await PostgresRequests(conn).broadcasts(key.owner, limit + 1, after, topic)
    return rows[:limit], len(rows) > limit


async def cancel_broadcast(uow: UnitOfWork, key: ApiKey, broadcast_id: str) -> BroadcastRow | None:
    current = await get_broadcast(uow.conn, key, broadcast_id)
    if current is None:
        return None
    cancel = BroadcastCancelRequested(
        broadcast_id=broadcast_id, owner=_owner(current.api_key_id),
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    await decide(
        uow, broadcast_stream(broadcast_id), REQUEST, lambda s: change(s, "cancel", cancel),
        project=PostgresRequests(uow.conn).apply, correlation_id=broadcast_id,
    )  # fmt: skip
    return await PostgresRequests(uow.conn).broadcast(broadcast_id)


async def subscribe(
    uow: UnitOfWork, key: ApiKey, topic: str, bot_id: int, chat_id: int, subscribed: bool
) -> None:
    """Idempotent either way: the scheduler records a change only when it is one."""
    event = SubscriptionRequested(
        bot_id=bot_id, chat_id=chat_id, topic=topic,
        action="subscribe" if subscribed else "unsubscribe", requested_by=_owner(key.id),
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    stream = subscription_stream(key.owner, topic, bot_id, chat_id)
    await decide(uow, stream, REQUEST, lambda _: [event], project=PostgresRequests(uow.conn).apply)


async def record_result(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    """A scheduler result about one of the api's schedules or broadcasts joins its stream;
    the others (a chat's own schedules) are not the api's to keep."""
    result: Result = envelope.data
    await decide(
        uow, stream_of_result(result), REQUEST, lambda state: keep_result(state, envelope),
        project=PostgresRequests(uow.conn).apply,
    )  # fmt: skip

"""Schedules, broadcasts and subscriptions: each request recorded in its stream (projected
at once) and published to the scheduler, which owns the real thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from chime_api.domain.keys import ApiKey
from chime_api.domain.requests import BroadcastRow, ScheduleRow, SubscriptionRow
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
from chime_api.ports import Requests
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
from chime_kit.streams import Work, decide


def _owner(key_id: str) -> ScheduleOwner:
    return ScheduleOwner(kind="api_key", id=key_id)


async def _record(
    work: Work, requests: Requests, stream: str, event: Event, correlation_id: str
) -> None:
    await decide(
        work, stream, REQUEST, lambda _: [event], project=requests.apply,
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


async def create_schedule(
    work: Work, requests: Requests, key: ApiKey, new: NewSchedule
) -> ScheduleRow:
    sid = new_schedule_id()
    requested = ScheduleRequested(
        schedule_id=sid, owner=_owner(key.id), bot_id=new.bot_id, chat_id=new.chat_id,
        topic=new.topic, spec=new.spec, time_zone=new.time_zone, starts_on=new.starts_on,
        ends_on=new.ends_on, message=new.message, misfire=new.misfire,
        misfire_grace_seconds=new.misfire_grace_seconds, jitter_seconds=new.jitter_seconds,
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    await _record(work, requests, schedule_stream(sid), requested, sid)
    row = await requests.schedule(sid)
    assert row is not None
    return row


async def get_schedule(requests: Requests, key: ApiKey, schedule_id: str) -> ScheduleRow | None:
    row = await requests.schedule(schedule_id)
    return row if row is not None and row.owner == key.owner else None


async def list_schedules(
    requests: Requests,
    key: ApiKey,
    limit: int,
    after: tuple[datetime, str] | None,
    status: str | None,
) -> tuple[list[ScheduleRow], bool]:
    rows = await requests.schedules(key.owner, limit + 1, after, status)
    return rows[:limit], len(rows) > limit


@dataclass(frozen=True)
class Update:
    spec: ScheduleSpec | None = None
    time_zone: str | None = None
    message: MessageTemplate | None = None
    ends_on: date | None = None


async def change_schedule(
    work: Work,
    requests: Requests,
    key: ApiKey,
    schedule_id: str,
    action: Action,
    update: Update | None = None,
) -> ScheduleRow | None:
    """None when the caller's owner has no such schedule; ClosedError once it is cancelled."""
    current = await get_schedule(requests, key, schedule_id)
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
        work, schedule_stream(schedule_id), REQUEST, lambda s: change(s, action, event),
        project=requests.apply, correlation_id=schedule_id,
    )  # fmt: skip
    return await requests.schedule(schedule_id)


async def create_broadcast(
    work: Work,
    requests: Requests,
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
    await _record(work, requests, broadcast_stream(bid), requested, bid)
    row = await requests.broadcast(bid)
    assert row is not None
    return row


async def get_broadcast(requests: Requests, key: ApiKey, broadcast_id: str) -> BroadcastRow | None:
    row = await requests.broadcast(broadcast_id)
    return row if row is not None and row.owner == key.owner else None


async def list_broadcasts(
    requests: Requests,
    key: ApiKey,
    limit: int,
    after: tuple[datetime, str] | None,
    topic: str | None,
) -> tuple[list[BroadcastRow], bool]:
    rows = await requests.broadcasts(key.owner, limit + 1, after, topic)
    return rows[:limit], len(rows) > limit


async def cancel_broadcast(
    work: Work, requests: Requests, key: ApiKey, broadcast_id: str
) -> BroadcastRow | None:
    current = await get_broadcast(requests, key, broadcast_id)
    if current is None:
        return None
    cancel = BroadcastCancelRequested(
        broadcast_id=broadcast_id, owner=_owner(current.api_key_id),
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    await decide(
        work, broadcast_stream(broadcast_id), REQUEST, lambda s: change(s, "cancel", cancel),
        project=requests.apply, correlation_id=broadcast_id,
    )  # fmt: skip
    return await requests.broadcast(broadcast_id)


async def subscribe(
    work: Work,
    requests: Requests,
    key: ApiKey,
    topic: str,
    bot_id: int,
    chat_id: int,
    subscribed: bool,
) -> None:
    """Idempotent either way: the scheduler records a change only when it is one."""
    event = SubscriptionRequested(
        bot_id=bot_id, chat_id=chat_id, topic=topic,
        action="subscribe" if subscribed else "unsubscribe", requested_by=_owner(key.id),
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    stream = subscription_stream(key.owner, topic, bot_id, chat_id)
    await decide(work, stream, REQUEST, lambda _: [event], project=requests.apply)


async def list_topics(requests: Requests, key: ApiKey) -> list[tuple[str, int]]:
    """The topics the caller's owner has subscribers in, with how many."""
    return await requests.topics(key.owner)


async def list_subscriptions(
    requests: Requests, key: ApiKey, topic: str, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[SubscriptionRow], bool]:
    """The chats the caller's owner subscribed to a topic (still subscribed), newest first."""
    rows = await requests.subscriptions(key.owner, topic, limit + 1, after)
    return rows[:limit], len(rows) > limit


async def record_result(work: Work, requests: Requests, envelope: Envelope[Any]) -> None:
    """A scheduler result about one of the api's schedules or broadcasts joins its stream;
    the others (a chat's own schedules) are not the api's to keep."""
    result: Result = envelope.data
    await decide(
        work, stream_of_result(result), REQUEST, lambda state: keep_result(state, envelope),
        project=requests.apply,
    )  # fmt: skip

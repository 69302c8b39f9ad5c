"""The read side of the api's requests to the scheduler: a schedule's, a broadcast's and a
subscription's row, and how each event folds into it. The PostgreSQL projection and the
in-memory one both fold with these functions, so they cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from chime_api.domain.schedules import AFTER
from chime_contracts.envelope import Event
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRequested,
    BroadcastStarted,
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleFired,
    ScheduleRejected,
    ScheduleRequested,
    SubscriptionRequested,
)


@dataclass(frozen=True)
class ScheduleRow:
    id: str
    owner: str
    api_key_id: str
    bot_id: int
    chat_id: int | None
    topic: str | None
    spec: dict[str, Any]
    time_zone: str
    starts_on: date | None
    ends_on: date | None
    message: dict[str, Any]
    misfire: str
    jitter_seconds: int
    status: str
    pending: str | None
    created_at: datetime
    number: int | None = None
    next_at: datetime | None = None
    last_fired_at: datetime | None = None
    fired: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class BroadcastRow:
    id: str
    owner: str
    api_key_id: str
    bot_id: int
    topic: str
    message: dict[str, Any]
    at: datetime | None
    status: str
    created_at: datetime
    recipients: int | None = None
    handed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    started_at: datetime | None = None
    estimated_finish_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class SubscriptionRow:
    owner: str
    bot_id: int
    chat_id: int
    topic: str
    subscribed: bool
    changed_at: datetime


def requester_of(event: Event) -> str | None:
    """The key whose team owns what this event starts (None: it starts nothing)."""
    if isinstance(event, ScheduleRequested | BroadcastRequested):
        return event.owner.id
    if isinstance(event, SubscriptionRequested):
        return event.requested_by.id
    return None


def schedule_id_of(event: Event) -> str | None:
    """The schedule a request or result is about (None: not a schedule's)."""
    if isinstance(event, ScheduleRequested | ScheduleChangeRequested):
        return event.schedule_id
    if isinstance(event, ScheduleRejected):
        return event.schedule_ref
    if isinstance(event, ScheduleCreated | ScheduleChanged | ScheduleFired):
        return event.schedule_id
    return None


def broadcast_id_of(event: Event) -> str | None:
    if isinstance(
        event,
        BroadcastRequested
        | BroadcastCancelRequested
        | BroadcastStarted
        | BroadcastProgressed
        | BroadcastFinished,
    ):
        return event.broadcast_id
    return None


def _json(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped


def evolve_schedule(row: ScheduleRow | None, e: Event, owner: str | None) -> ScheduleRow | None:
    """The row after `e`; `owner` only for the request that creates it. A result about a
    schedule the api does not hold changes nothing."""
    if isinstance(e, ScheduleRequested):
        if owner is None:
            return row
        return ScheduleRow(
            id=e.schedule_id, owner=owner, api_key_id=e.owner.id, bot_id=e.bot_id,
            chat_id=e.chat_id, topic=e.topic, spec=e.spec.model_dump(mode="json"),
            time_zone=e.time_zone, starts_on=e.starts_on, ends_on=e.ends_on,
            message=_json(e.message), misfire=e.misfire,
            jitter_seconds=e.jitter_seconds, status="requested", pending=None,
            created_at=e.requested_at,
        )  # fmt: skip
    if row is None:
        return None
    if isinstance(e, ScheduleChangeRequested):
        if e.action in AFTER:
            return replace(row, status=AFTER[e.action])
        return replace(
            row,
            spec=e.spec.model_dump(mode="json") if e.spec else row.spec,
            time_zone=e.time_zone if e.time_zone is not None else row.time_zone,
            message=_json(e.message) if e.message is not None else row.message,
            ends_on=e.ends_on if e.ends_on is not None else row.ends_on,
        )
    if isinstance(e, ScheduleCreated):
        # Results come on a queue per type: a first firing may be applied before the
        # creation, and its next occurrence is the later word.
        next_at = e.next_at if row.last_fired_at is None else row.next_at
        return replace(
            row, status="active", number=e.number, next_at=next_at,
            spec=e.spec.model_dump(mode="json"),
        )  # fmt: skip
    if isinstance(e, ScheduleRejected):
        return replace(
            row, status="rejected" if e.action == "create" else row.status, reason=e.reason
        )
    if isinstance(e, ScheduleChanged):
        return replace(
            row, status=e.status, next_at=e.next_at,
            spec=e.spec.model_dump(mode="json") if e.spec else row.spec,
            time_zone=e.time_zone if e.time_zone is not None else row.time_zone,
            chat_id=e.chat_id if e.chat_id is not None else row.chat_id,
        )  # fmt: skip
    if isinstance(e, ScheduleFired):
        return replace(row, last_fired_at=e.fired_at, next_at=e.next_at, fired=row.fired + 1)
    return row


def _running(status: str) -> str:
    return "running" if status == "requested" else status


def evolve_broadcast(row: BroadcastRow | None, e: Event, owner: str | None) -> BroadcastRow | None:
    """Results travel on separate queues, so a late start or progress report never takes a
    count back nor undoes a finish."""
    if isinstance(e, BroadcastRequested):
        if owner is None:
            return row
        return BroadcastRow(
            id=e.broadcast_id, owner=owner, api_key_id=e.owner.id, bot_id=e.bot_id,
            topic=e.topic, message=_json(e.message),
            at=e.at, status="requested", created_at=e.requested_at,
        )  # fmt: skip
    if row is None:
        return None
    if isinstance(e, BroadcastCancelRequested):
        return replace(row, status="cancelled")
    if isinstance(e, BroadcastStarted):
        return replace(
            row, recipients=e.recipients, skipped=max(row.skipped, e.skipped),
            started_at=e.started_at,
            estimated_finish_at=row.estimated_finish_at or e.estimated_finish_at,
            status=_running(row.status),
        )  # fmt: skip
    if isinstance(e, BroadcastProgressed):
        if row.finished_at is not None:
            return row
        return replace(
            row, handed=max(row.handed, e.handed), sent=max(row.sent, e.sent),
            failed=max(row.failed, e.failed), skipped=max(row.skipped, e.skipped),
            estimated_finish_at=e.estimated_finish_at or row.estimated_finish_at,
            status=_running(row.status),
        )  # fmt: skip
    if isinstance(e, BroadcastFinished):
        return replace(
            row, handed=e.handed, sent=e.sent, failed=e.failed, skipped=e.skipped,
            finished_at=e.finished_at, status="cancelled" if e.cancelled else "finished",
        )  # fmt: skip
    return row


def subscription_of(e: SubscriptionRequested, owner: str) -> SubscriptionRow:
    return SubscriptionRow(
        owner=owner, bot_id=e.bot_id, chat_id=e.chat_id, topic=e.topic,
        subscribed=e.action == "subscribe", changed_at=e.requested_at,
    )  # fmt: skip

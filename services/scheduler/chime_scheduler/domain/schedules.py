"""Schedules as the scheduler decides them: pure rules, no I/O.

A schedule's stream `schedule-<id>` holds its life: the request as received
(`schedule.requested.v1`), `schedule.created.v1` or `schedule.rejected.v1`, then
`schedule.fired.v1` for each occurrence (recorded once: the occurrence's identity is the
schedule and its scheduled instant) and `schedule.changed.v1` for each change. Every event
that moves the next occurrence carries it (`next_at`, and `fire_at` with the jitter), so the
projection never recomputes a timetable to be rebuilt.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, Protocol

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleFired,
    ScheduleRejected,
    ScheduleRequested,
)
from chime_contracts.events.schedules import (
    CronSpec,
    MessageTemplate,
    MisfirePolicy,
    OnceSpec,
    PingsSpec,
    RRuleSpec,
    ScheduleOwner,
)
from chime_kit.streams import Aggregate
from chime_scheduler.domain.trusted import trusted
from chime_schedules import (
    Spec,
    SpecError,
    Timetable,
    local_instant,
    timetable,
    wall_time,
    zone_of,
)

Status = Literal["new", "requested", "rejected", "active", "paused", "cancelled", "finished"]
# The longest run of missed occurrences a firing walks one by one; past it, it jumps.
MISSED_WALK_LIMIT = 1000


@dataclass(frozen=True)
class ScheduleState:
    status: Status = "new"
    number: int = 0
    owner: ScheduleOwner | None = None
    bot_id: int = 0
    chat_id: int | None = None
    topic: str | None = None
    spec: Spec | None = None
    time_zone: str = "UTC"
    starts_on: date | None = None
    ends_on: date | None = None
    message: MessageTemplate | None = None
    jitter_seconds: int = 0
    language: str | None = None
    paused_by: str | None = None
    next_at: datetime | None = None
    changes: tuple[str, ...] = field(default=())

    def table(self) -> Timetable:
        assert self.spec is not None
        return timetable(self.spec, self.time_zone, starts_on=self.starts_on, ends_on=self.ends_on)


def evolve(state: ScheduleState, event: Event) -> ScheduleState:
    if isinstance(event, ScheduleRequested):
        return replace(state, status="requested")
    if isinstance(event, ScheduleRejected):
        return replace(state, status="rejected") if state.status == "requested" else state
    if isinstance(event, ScheduleCreated):
        return replace(
            state, status="active" if event.next_at else "finished", number=event.number,
            owner=event.owner, bot_id=event.bot_id, chat_id=event.chat_id, topic=event.topic,
            spec=event.spec, time_zone=event.time_zone, starts_on=event.starts_on,
            ends_on=event.ends_on, message=event.message, jitter_seconds=event.jitter_seconds,
            language=event.language, next_at=event.next_at,
        )  # fmt: skip
    if isinstance(event, ScheduleChangeRequested):
        return replace(state, changes=(*state.changes, event.change_id))
    if isinstance(event, ScheduleChanged):
        return replace(
            state,
            status=event.status,
            paused_by=event.by if event.status == "paused" else None,
            spec=event.spec or state.spec,
            time_zone=event.time_zone or state.time_zone,
            message=event.message or state.message,
            ends_on=event.ends_on if event.action == "updated" else state.ends_on,
            chat_id=event.chat_id if event.chat_id is not None else state.chat_id,
            owner=event.owner or state.owner,
            next_at=event.next_at,
        )
    if isinstance(event, ScheduleFired):
        return replace(
            state, next_at=event.next_at, status="active" if event.next_at else "finished"
        )
    return state


SCHEDULE = Aggregate(ScheduleState(), evolve)


def stream_id(schedule_id: str) -> str:
    return f"schedule-{schedule_id}"


def jitter(schedule_id: str, occurrence: datetime, seconds: int) -> timedelta:
    """The same spread for an occurrence on every replica and in every rebuild."""
    if seconds <= 0:
        return timedelta(0)
    draw = zlib.crc32(f"{schedule_id}:{occurrence.timestamp()}".encode()) / 2**32
    return timedelta(seconds=round(draw * seconds, 3))


def fire_at(schedule_id: str, next_at: datetime | None, jitter_seconds: int) -> datetime | None:
    return None if next_at is None else next_at + jitter(schedule_id, next_at, jitter_seconds)


def fired(
    schedule_id: str, occurrence: datetime, now: datetime, delivery_id: str, missed: int,
    next_at: datetime | None, jitter_seconds: int,
) -> ScheduleFired:  # fmt: skip
    """The record of an occurrence fired, built without validation: every part is ours (the
    claimed row's id, instants of its timetable, the delivery id made from them);
    `test_fired_is_a_valid_one` holds it to the model."""
    event: ScheduleFired = trusted(
        ScheduleFired, type="schedule.fired.v1", schedule_id=schedule_id, occurrence=occurrence,
        fired_at=now, delivery_id=delivery_id, missed=missed, next_at=next_at,
        fire_at=fire_at(schedule_id, next_at, jitter_seconds),
    )  # fmt: skip
    return event


def self_contained(spec: Spec, schedule_id: str, starts_on: date | None, anchor: datetime,
                   time_zone: str) -> Spec:  # fmt: skip
    """The spec with what it left to chance fixed: an RRULE's DTSTART (local midnight of the
    start date, else of the day it was asked for) and a pings seed (from the id)."""
    if isinstance(spec, RRuleSpec) and spec.starts_at is None:
        day = starts_on or wall_time(anchor, zone_of(time_zone)).date()
        return spec.model_copy(update={"starts_at": datetime.combine(day, time())})
    if isinstance(spec, PingsSpec) and spec.seed is None:
        return spec.model_copy(update={"seed": zlib.crc32(schedule_id.encode())})
    return spec


class NextOccurrences:
    """The first occurrence after an instant, worked out once per (spec, zone, first and last
    day, instant) and remembered: loading many schedules asks it again and again ("0 9 * * *"
    in one zone, all requested at one instant). Only specs many schedules share are kept
    (cron lines, and RRULEs with their DTSTART fixed); a spec refused (SpecError) is
    remembered as its error, returned rather than raised."""

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], datetime | SpecError | None] = {}

    def first_after(
        self, spec: Spec, time_zone: str, starts_on: date | None, ends_on: date | None,
        instant: datetime,
    ) -> datetime | SpecError | None:  # fmt: skip
        key = _shared_key(spec)
        if key is not None:
            key = (*key, time_zone, starts_on, ends_on, instant)
            if key in self._known:
                return self._known[key]
        try:
            table = timetable(spec, time_zone, starts_on=starts_on, ends_on=ends_on)
        except SpecError as exc:
            found: datetime | SpecError | None = exc
        else:
            found = table.next_after(instant)
        if key is not None:
            self._known[key] = found
        return found


def _shared_key(spec: Spec) -> tuple[Any, ...] | None:
    if isinstance(spec, CronSpec):
        return ("cron", spec.expression)
    if isinstance(spec, RRuleSpec) and spec.starts_at is not None:
        return ("rrule", spec.rrule, spec.starts_at, tuple(spec.exdates), tuple(spec.rdates))
    return None


def create(
    state: ScheduleState, request: Envelope[ScheduleRequested], number: int,
    occurrences: NextOccurrences | None = None,
) -> list[Event | Envelope[Any]]:  # fmt: skip
    """Keep the request and create the schedule, or reject it with a reason people read.
    `occurrences` shares the first occurrences of a load's many requests."""
    if state.status != "new":
        return []
    asked = request.data

    def reject(reason: str) -> list[Event | Envelope[Any]]:
        rejected = ScheduleRejected(
            request_id=asked.schedule_id, schedule_ref=asked.schedule_id, owner=asked.owner,
            action="create", reason=reason,
        )  # fmt: skip
        return [request, rejected]

    if (asked.chat_id is None) == (asked.topic is None):
        return reject("name exactly one target: a chat or a topic")
    try:
        spec = self_contained(
            asked.spec, asked.schedule_id, asked.starts_on, asked.requested_at, asked.time_zone
        )
        if occurrences is None:
            table = timetable(
                spec, asked.time_zone, starts_on=asked.starts_on, ends_on=asked.ends_on
            )
    except SpecError as exc:
        return reject(str(exc))
    if occurrences is None:
        next_at = table.next_after(asked.requested_at)
    else:
        found = occurrences.first_after(
            spec, asked.time_zone, asked.starts_on, asked.ends_on, asked.requested_at
        )
        if isinstance(found, SpecError):
            return reject(str(found))
        next_at = found
    if next_at is None:
        return reject("it would never fire: every time it names is in the past")
    # Not validated again: every part comes from the validated request, the spec made
    # self-contained by `model_copy` of a validated one, and our own number and instants
    # (`test_created_is_a_valid_one` holds it to the model).
    created = trusted(
        ScheduleCreated, type="schedule.created.v1", schedule_id=asked.schedule_id, number=number,
        owner=asked.owner, bot_id=asked.bot_id, chat_id=asked.chat_id, topic=asked.topic,
        spec=spec, time_zone=asked.time_zone,
        starts_on=asked.starts_on, ends_on=asked.ends_on, message=asked.message,
        misfire=asked.misfire, misfire_grace_seconds=asked.misfire_grace_seconds,
        jitter_seconds=asked.jitter_seconds, language=asked.language, next_at=next_at,
        fire_at=fire_at(asked.schedule_id, next_at, asked.jitter_seconds),
    )  # fmt: skip
    return [request, created]


def _changed(
    state: ScheduleState, schedule_id: str, change_id: str, action: Any, by: Any, **fields: Any
) -> ScheduleChanged:
    next_at = fields.pop("next_at", state.next_at)
    status = fields.pop("status", state.status)
    return ScheduleChanged(
        schedule_id=schedule_id, change_id=change_id, action=action, by=by, status=status,
        next_at=next_at, fire_at=fire_at(schedule_id, next_at, state.jitter_seconds), **fields,
    )  # fmt: skip


def change(
    state: ScheduleState, request: Envelope[ScheduleChangeRequested], schedule_id: str,
    now: datetime,
) -> list[Event | Envelope[Any]]:  # fmt: skip
    """Pause, resume, cancel or update, for its owner; a reason (rejected) otherwise."""
    asked = request.data
    if asked.change_id in state.changes:
        return []

    def reject(reason: str) -> list[Event | Envelope[Any]]:
        return [request, ScheduleRejected(
            request_id=asked.change_id, schedule_ref=asked.schedule_id, owner=asked.owner,
            action=asked.action, reason=reason,
        )]  # fmt: skip

    if state.status in ("new", "requested", "rejected") or state.owner != asked.owner:
        return reject(f"there is no schedule {asked.schedule_id} here")
    if state.status in ("cancelled", "finished"):
        return reject(f"#{state.number} is over ({state.status})")
    act = asked.action
    if act == "pause":
        if state.status == "paused":
            return reject(f"#{state.number} is paused already")
        done = _changed(state, schedule_id, asked.change_id, "paused", "owner", status="paused")
    elif act == "resume":
        if state.status == "active":
            return reject(f"#{state.number} is running already")
        next_at = state.table().next_after(now)
        done = _changed(
            state, schedule_id, asked.change_id, "resumed", "owner",
            status="active" if next_at else "finished", next_at=next_at,
        )  # fmt: skip
    elif act == "cancel":
        done = _changed(
            state, schedule_id, asked.change_id, "cancelled", "owner", status="cancelled",
            next_at=None,
        )  # fmt: skip
    else:
        updated = replace(
            state,
            spec=asked.spec or state.spec,
            time_zone=asked.time_zone or state.time_zone,
            ends_on=asked.ends_on if asked.ends_on is not None else state.ends_on,
        )
        try:
            next_at = updated.table().next_after(now)
        except SpecError as exc:
            return reject(str(exc))
        done = _changed(
            state, schedule_id, asked.change_id, "updated", "owner",
            status=state.status if next_at else "finished", next_at=next_at, spec=asked.spec,
            time_zone=asked.time_zone, message=asked.message, ends_on=updated.ends_on,
        )  # fmt: skip
    return [request, done]


def pause_for_stop(state: ScheduleState, schedule_id: str, change_id: str) -> list[Event]:
    """/stop pauses what runs; what the owner paused stays theirs to resume."""
    if state.status != "active":
        return []
    return [_changed(state, schedule_id, change_id, "paused", "chat_stopped", status="paused")]


def resume_after_start(
    state: ScheduleState, schedule_id: str, change_id: str, now: datetime
) -> list[Event]:
    """/start after /stop resumes only what /stop paused, from now (nothing fires late)."""
    if state.status != "paused" or state.paused_by != "chat_stopped":
        return []
    next_at = state.table().next_after(now)
    return [_changed(
        state, schedule_id, change_id, "resumed", "chat_resumed",
        status="active" if next_at else "finished", next_at=next_at,
    )]  # fmt: skip


def move_zone(
    state: ScheduleState, schedule_id: str, change_id: str, time_zone: str, now: datetime
) -> list[Event]:
    """A chat's new zone moves its schedules' future occurrences: 09:00 stays 09:00 there.

    A once-schedule is never lost to a move: when it is already due (`next_at` at or before
    `now`, not yet fired) or its wall time has passed in the new zone, it keeps its instant
    (pinned as an aware time) and fires there.
    """
    if state.status not in ("active", "paused") or state.time_zone == time_zone:
        return []
    pending = state.next_at
    try:
        next_at = None
        if not (isinstance(state.spec, OnceSpec) and pending is not None and pending <= now):
            next_at = replace(state, time_zone=time_zone).table().next_after(now)
        if state.status == "active" and pending is not None and pending <= now:
            next_at = _due_kept(state, time_zone, pending, next_at, now)
    except SpecError:
        return []
    pin: dict[str, Any] = {}
    if isinstance(state.spec, OnceSpec) and next_at is None and pending is not None:
        next_at, pin = pending, {"spec": OnceSpec(at=pending)}
    return [_changed(
        state, schedule_id, change_id, "moved", "time_zone",
        status=state.status if next_at else "finished", next_at=next_at, time_zone=time_zone,
        **pin,
    )]  # fmt: skip


def _due_kept(
    state: ScheduleState, time_zone: str, pending: datetime, moved: datetime | None,
    now: datetime,
) -> datetime | None:  # fmt: skip
    """The occurrence due at a zone change and not fired yet is never lost, nor doubled.

    When its wall time is still ahead in the new zone, `moved` (the new timetable's next)
    fires it there. When that wall time has passed, it keeps its instant, unless the new
    timetable has an occurrence of its own between it and now (due as well: that one fires
    in its place, so the day is not fired twice).
    """
    if isinstance(state.spec, OnceSpec):
        return moved
    twin = local_instant(wall_time(pending, zone_of(state.time_zone)), zone_of(time_zone))
    if twin > now:
        return moved
    following = replace(state, time_zone=time_zone).table().next_after(pending)
    return following if following is not None and following <= now else pending


def migrate(state: ScheduleState, schedule_id: str, change_id: str, bot_id: int, new_chat_id: int
            ) -> list[Event]:  # fmt: skip
    """A group became a supergroup: its schedules follow it, and their owner too."""
    if state.status in ("new", "requested", "rejected"):
        return []
    owner = state.owner
    if owner is not None and owner.kind == "chat" and owner.id == f"{bot_id}:{state.chat_id}":
        owner = ScheduleOwner(kind="chat", id=f"{bot_id}:{new_chat_id}")
    return [_changed(
        state, schedule_id, change_id, "migrated", "migration", chat_id=new_chat_id, owner=owner,
    )]  # fmt: skip


@dataclass(frozen=True)
class FirePlan:
    """What one claim of a due schedule does: the occurrences to fire now (oldest first), how
    many the misfire policy dropped, and the next occurrence after them."""

    fire: list[datetime]
    missed: int
    next_at: datetime | None


class Occurrences(Protocol):
    """What `plan` needs of a timetable (a `Timetable`, or one that remembers its answers)."""

    def next_after(self, instant: datetime) -> datetime | None: ...


def plan(
    table: Occurrences, next_at: datetime, now: datetime, policy: MisfirePolicy,
    grace: timedelta, on_time: timedelta,
) -> FirePlan:  # fmt: skip
    """Apply the misfire policy to the occurrences due by `now`, from `next_at` on.

    An occurrence is on time when it fires within `on_time` of its instant (lag under load
    is not a misfire). `fire_late`: each one no more than `grace` late fires, each once;
    `coalesce`: those no more than `grace` late fire once, as the latest of them; `skip`:
    only an on-time one fires. The others are missed (counted, never fired).
    """
    due = [next_at]
    following = table.next_after(next_at)
    while following is not None and following <= now and len(due) < MISSED_WALK_LIMIT:
        due.append(following)
        following = table.next_after(following)
    if following is not None and following <= now:
        # A long outage: past the walk, only what may still fire is looked at (the count of
        # missed ones is then a lower bound).
        start = max(following, now - max(grace, on_time)) - timedelta(microseconds=1)
        following = table.next_after(start)
        while following is not None and following <= now:
            due.append(following)
            following = table.next_after(following)
    limit = on_time if policy == "skip" else max(grace, on_time)
    fresh = [at for at in due if now - at <= limit]
    fire = fresh[-1:] if policy == "coalesce" else fresh
    return FirePlan(fire, len(due) - len(fire), following)

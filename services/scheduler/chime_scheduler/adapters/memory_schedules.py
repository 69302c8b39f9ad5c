"""The schedules projection (the next-fire index) and its queries, in memory: the fake of
`schedules.py`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from chime_contracts.events import ScheduleChanged, ScheduleCreated, ScheduleFired
from chime_contracts.events.schedules import MisfirePolicy, ScheduleOwner
from chime_kit.event_store import Recorded
from chime_scheduler.adapters.schedules import changed_columns, created_row
from chime_scheduler.domain.messages import chat_of
from chime_scheduler.domain.reminders import Reminder
from chime_scheduler.ports import DueSchedule, Listed

STREAM = "schedule-"
LIVE = ("active", "paused")


@dataclass(frozen=True)
class Row:
    """A row of the `schedules` table (as `adapters/schedules.py` maps events to columns)."""

    id: str
    number: int
    owner_kind: Literal["chat", "api_key"]
    owner_id: str
    bot_id: int
    chat_id: int | None
    topic: str | None
    spec: dict[str, Any]
    time_zone: str
    starts_on: date | None
    ends_on: date | None
    message: dict[str, Any]
    misfire: MisfirePolicy
    misfire_grace_seconds: int
    jitter_seconds: int
    language: str | None
    status: str
    next_at: datetime | None
    fire_at: datetime | None
    version: int
    correlation_id: str
    traceparent: str | None = None  # the creating request's span
    updated_traceparent: str | None = None  # the last update's
    paused_by: str | None = None
    fired: int = 0
    last_fired_at: datetime | None = None


_DUE = [f.name for f in fields(DueSchedule)]


class InMemorySchedules:
    tables = ("schedules",)

    def __init__(self, reminders_of: Callable[[int, int], list[Reminder]]) -> None:
        """`reminders_of(bot_id, chat_id)`: the chat's one-shot reminders still to fire, which
        its /list shows after its schedules."""
        self.rows: dict[str, Row] = {}
        self.numbers: dict[tuple[str, str], int] = {}
        self.reminders_of = reminders_of

    async def apply(self, events: Sequence[Recorded]) -> None:
        # Requests kept in a schedule's stream and rejected changes move its version too.
        versions: dict[str, int] = {}
        for r in events:
            data = r.envelope.data
            if r.stream_id.startswith(STREAM) and r.version > 2:
                versions[r.stream_id.removeprefix(STREAM)] = r.version
            if isinstance(data, ScheduleFired) and data.schedule_id in self.rows:
                row = self.rows[data.schedule_id]
                self.rows[row.id] = replace(
                    row, next_at=data.next_at, fire_at=data.fire_at, fired=row.fired + 1,
                    last_fired_at=data.occurrence, version=r.version,
                    status="finished" if data.next_at is None else row.status,
                )  # fmt: skip
            elif isinstance(data, ScheduleCreated):
                self.rows[data.schedule_id] = self._created(r, data)
            elif isinstance(data, ScheduleChanged) and data.schedule_id in self.rows:
                row = self.rows[data.schedule_id]
                self.rows[row.id] = replace(row, **changed_columns(data, r.version, r.envelope))
        for schedule_id, version in versions.items():
            current = self.rows.get(schedule_id)
            if current is not None and current.version < version:
                self.rows[schedule_id] = replace(current, version=version)

    def _created(self, r: Recorded, e: ScheduleCreated) -> Row:
        row = created_row(e, r.version, r.envelope)
        del row["created_at"]  # not kept here
        return Row(**row)

    def _active(self) -> list[Row]:
        return [row for row in self.rows.values() if row.status == "active"]

    async def claim_due(self, now: datetime, limit: int) -> list[DueSchedule]:
        due = sorted(
            (row for row in self._active() if row.fire_at and row.fire_at <= now),
            key=lambda row: row.fire_at or now,
        )[:limit]
        return [DueSchedule(**{name: getattr(row, name) for name in _DUE}) for row in due]

    async def next_fire_at(self) -> datetime | None:
        return min((row.fire_at for row in self._active() if row.fire_at), default=None)

    async def next_number(self, owner: ScheduleOwner) -> int:
        key = (owner.kind, owner.id)
        self.numbers[key] = self.numbers.get(key, 0) + 1
        return self.numbers[key]

    def _owned(self, owner: ScheduleOwner) -> list[Row]:
        return [
            r for r in self.rows.values() if (r.owner_kind, r.owner_id) == (owner.kind, owner.id)
        ]

    async def resolve(self, owner: ScheduleOwner, ref: str) -> str | None:
        number = ref.removeprefix("#")
        mine = self._owned(owner)
        if number.isdigit():
            found = [row.id for row in mine if row.number == int(number)]
            if found:
                return found[0]
        return ref if any(row.id == ref for row in mine) else None

    async def of_chat(self, bot_id: int, chat_id: int) -> list[str]:
        owner = f"{bot_id}:{chat_id}"
        return sorted(
            row.id for row in self.rows.values() if row.status in LIVE and (
                (row.bot_id, row.chat_id) == (bot_id, chat_id)
                or (row.owner_kind, row.owner_id) == ("chat", owner)
            )
        )  # fmt: skip

    async def page(self, owner: ScheduleOwner, page: int, size: int) -> tuple[list[Listed], int]:
        live = sorted((r for r in self._owned(owner) if r.status in LIVE), key=lambda r: r.number)
        chat = chat_of(owner)
        listed = [
            Listed(r.number, r.status, r.message.get("text", ""), r.next_at, r.time_zone, r.topic)
            for r in live
        ] + [
            Listed(None, "active", r.text, r.due_at, r.time_zone, None, reminder_id=r.id)
            for r in (self.reminders_of(*chat) if chat else [])
        ]  # fmt: skip
        return listed[(page - 1) * size : page * size], len(listed)

    async def counts(self) -> tuple[int, int]:
        now = datetime.now(UTC)
        active = self._active()
        return len(active), sum(1 for row in active if row.fire_at and row.fire_at <= now)

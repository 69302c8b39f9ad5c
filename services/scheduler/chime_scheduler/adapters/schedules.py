"""The schedules projection (the next-fire index) and its queries, in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chime_contracts.envelope import Envelope
from chime_contracts.events import ScheduleChanged, ScheduleCreated, ScheduleFired
from chime_contracts.events.schedules import ScheduleOwner
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_scheduler.domain.messages import chat_of
from chime_scheduler.ports import DueSchedule, Listed

STREAM = "schedule-"
_FIRED = (
    "UPDATE schedules s SET next_at = u.next_at, fire_at = u.fire_at, fired = s.fired + 1,"
    " last_fired_at = u.occurrence, version = u.version,"
    " status = CASE WHEN u.next_at IS NULL THEN 'finished' ELSE s.status END"
    " FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[],"
    " $5::int[]) AS u(id, next_at, fire_at, occurrence, version) WHERE s.id = u.id"
)
_CLAIM = (
    "SELECT id, owner_kind, owner_id, bot_id, chat_id, topic, spec, time_zone, starts_on,"
    " ends_on, message, misfire, misfire_grace_seconds, jitter_seconds, language, next_at,"
    " version, correlation_id, traceparent, updated_traceparent FROM schedules"
    " WHERE status = 'active' AND fire_at <= $1 ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED"
)


def created_row(e: ScheduleCreated, version: int, envelope: Envelope[Any]) -> dict[str, Any]:
    """The `schedules` row a created schedule starts as, by column: the one mapping of the
    projection's INSERT, the bulk loader's COPY and the in-memory fake."""
    return {
        "id": e.schedule_id, "number": e.number, "owner_kind": e.owner.kind,
        "owner_id": e.owner.id, "bot_id": e.bot_id, "chat_id": e.chat_id, "topic": e.topic,
        "spec": e.spec.model_dump(mode="json"), "time_zone": e.time_zone,
        "starts_on": e.starts_on, "ends_on": e.ends_on,
        "message": e.message.model_dump(mode="json", exclude_none=True), "misfire": e.misfire,
        "misfire_grace_seconds": e.misfire_grace_seconds, "jitter_seconds": e.jitter_seconds,
        "language": e.language, "status": "active" if e.next_at else "finished",
        "next_at": e.next_at, "fire_at": e.fire_at, "version": version,
        "created_at": envelope.occurred_at, "correlation_id": envelope.correlation_id,
        "traceparent": envelope.traceparent,
    }  # fmt: skip


def changed_columns(e: ScheduleChanged, version: int, envelope: Envelope[Any]) -> dict[str, Any]:
    """The columns a change sets, by name (those it leaves are absent): the one mapping of
    the projection's UPDATE and the in-memory fake."""
    changed: dict[str, Any] = {
        "status": e.status, "paused_by": e.by if e.status == "paused" else None,
        "next_at": e.next_at, "fire_at": e.fire_at, "version": version,
    }  # fmt: skip
    if e.spec is not None:
        changed["spec"] = e.spec.model_dump(mode="json")
    if e.time_zone is not None:
        changed["time_zone"] = e.time_zone
    if e.message is not None:
        changed["message"] = e.message.model_dump(mode="json", exclude_none=True)
    if e.chat_id is not None:
        changed["chat_id"] = e.chat_id
    if e.owner is not None:
        changed["owner_kind"], changed["owner_id"] = e.owner.kind, e.owner.id
    if e.action == "updated":
        changed["ends_on"] = e.ends_on
        changed["updated_traceparent"] = envelope.traceparent
    return changed


CREATED_COLUMNS = (
    "id", "number", "owner_kind", "owner_id", "bot_id", "chat_id", "topic", "spec", "time_zone",
    "starts_on", "ends_on", "message", "misfire", "misfire_grace_seconds", "jitter_seconds",
    "language", "status", "next_at", "fire_at", "version", "created_at", "correlation_id",
    "traceparent",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO schedules ({', '.join(CREATED_COLUMNS)})"  # noqa: S608 - constant columns
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(CREATED_COLUMNS) + 1))})"
)


class PostgresSchedules:
    tables = ("schedules",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        fired: dict[str, tuple[Any, ...]] = {}
        # Requests kept in a schedule's stream and rejected changes move its version too.
        versions: dict[str, int] = {}
        for r in events:
            data = r.envelope.data
            if r.stream_id.startswith(STREAM) and r.version > 2:
                versions[r.stream_id.removeprefix(STREAM)] = r.version
            if isinstance(data, ScheduleFired):
                if data.schedule_id in fired:  # twice in one batch (a rebuild): keep order
                    await self._fired(fired)
                fired[data.schedule_id] = (data.next_at, data.fire_at, data.occurrence, r.version)
                continue
            if fired and isinstance(data, ScheduleCreated | ScheduleChanged):
                await self._fired(fired)
            if isinstance(data, ScheduleCreated):
                await self._created(r, data)
            elif isinstance(data, ScheduleChanged):
                await self._changed(r, data)
        if fired:
            await self._fired(fired)
        if versions:
            await self.conn.execute(
                "UPDATE schedules s SET version = u.version"
                " FROM unnest($1::text[], $2::int[]) AS u(id, version)"
                " WHERE s.id = u.id AND s.version < u.version",
                list(versions), list(versions.values()),
            )  # fmt: skip

    async def _fired(self, fired: dict[str, tuple[Any, ...]]) -> None:
        rows = list(zip(*fired.values(), strict=True))
        await self.conn.execute(_FIRED, list(fired), *rows)
        fired.clear()

    async def _created(self, r: Recorded, e: ScheduleCreated) -> None:
        row = created_row(e, r.version, r.envelope)
        await self.conn.execute(_INSERT, *(row[c] for c in CREATED_COLUMNS))

    async def _changed(self, r: Recorded, e: ScheduleChanged) -> None:
        changed = changed_columns(e, r.version, r.envelope)
        sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(changed, start=2))
        await self.conn.execute(
            f"UPDATE schedules SET {sets} WHERE id = $1",  # noqa: S608 - columns of ours
            e.schedule_id,
            *changed.values(),
        )

    async def claim_due(self, now: datetime, limit: int) -> list[DueSchedule]:
        """Lock up to `limit` due schedules, soonest first; replicas skip each other's."""
        rows = await self.conn.fetch(_CLAIM, now, limit)
        return [DueSchedule(**dict(row)) for row in rows]

    async def next_fire_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT fire_at FROM schedules WHERE status = 'active' ORDER BY fire_at LIMIT 1"
        )
        return value

    async def next_number(self, owner: ScheduleOwner) -> int:
        """The owner's next short number (operational counter; gaps are harmless)."""
        value: int = await self.conn.fetchval(
            "INSERT INTO schedule_numbers (owner_kind, owner_id, last) VALUES ($1, $2, 1)"
            " ON CONFLICT (owner_kind, owner_id) DO UPDATE SET last = schedule_numbers.last + 1"
            " RETURNING last",
            owner.kind, owner.id,
        )  # fmt: skip
        return value

    async def resolve(self, owner: ScheduleOwner, ref: str) -> str | None:
        """A schedule as its owner typed it: `#12`, `12`, or the full id."""
        number = ref.removeprefix("#")
        if number.isdigit():
            found: str | None = await self.conn.fetchval(
                "SELECT id FROM schedules WHERE owner_kind = $1 AND owner_id = $2"
                " AND number = $3",
                owner.kind, owner.id, int(number),
            )  # fmt: skip
            if found is not None:
                return found
        found = await self.conn.fetchval(
            "SELECT id FROM schedules WHERE id = $1 AND owner_kind = $2 AND owner_id = $3",
            ref, owner.kind, owner.id,
        )  # fmt: skip
        return found

    async def of_chat(self, bot_id: int, chat_id: int) -> list[str]:
        """Schedules sent to the chat or owned by it (live or paused)."""
        rows = await self.conn.fetch(
            "SELECT id FROM schedules WHERE status IN ('active', 'paused') AND ("
            " (bot_id = $1 AND chat_id = $2) OR (owner_kind = 'chat' AND owner_id = $3))"
            " ORDER BY id",
            bot_id, chat_id, f"{bot_id}:{chat_id}",
        )  # fmt: skip
        return [r["id"] for r in rows]

    async def page(self, owner: ScheduleOwner, page: int, size: int) -> tuple[list[Listed], int]:
        """A page of the owner's live and paused schedules by number, then (a chat's) its
        one-shot reminders still to fire by due time (with their ids, for /cancel), and how
        many in all."""
        chat = chat_of(owner) or (0, 0)
        total: int = await self.conn.fetchval(
            "SELECT (SELECT count(*) FROM schedules WHERE owner_kind = $1 AND owner_id = $2"
            " AND status IN ('active', 'paused')) + (SELECT count(*) FROM reminders"
            " WHERE bot_id = $3 AND chat_id = $4 AND state = 'scheduled' AND kind = 'reminder')",
            owner.kind, owner.id, *chat,
        )  # fmt: skip
        rows = await self.conn.fetch(
            "SELECT number, status, text, next_at, time_zone, topic, reminder_id FROM ("
            " SELECT 0 AS part, number, status, message->>'text' AS text, next_at, time_zone,"
            " topic, NULL AS reminder_id FROM schedules WHERE owner_kind = $1 AND owner_id = $2"
            " AND status IN ('active', 'paused')"
            " UNION ALL SELECT 1, NULL, 'active', text, due_at, time_zone, NULL, id FROM reminders"
            " WHERE bot_id = $3 AND chat_id = $4 AND state = 'scheduled' AND kind = 'reminder'"
            ") listed ORDER BY part, number, next_at LIMIT $5 OFFSET $6",
            owner.kind, owner.id, *chat, size, (page - 1) * size,
        )  # fmt: skip
        return [Listed(**dict(r)) for r in rows], total

    async def counts(self) -> tuple[int, int]:
        """Live schedules, and how many of them are due now (bounded: a backlog gauge)."""
        live: int = await self.conn.fetchval(
            "SELECT count(*) FROM schedules WHERE status = 'active'"
        )
        due: int = await self.conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM schedules WHERE status = 'active'"
            " AND fire_at <= now() LIMIT 1000000) d"
        )
        return live, due

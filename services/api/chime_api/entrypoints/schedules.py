"""/v1/schedules: recurring or one-shot messages to a chat (or a topic), kept by the
scheduler; the api records each request and shows where it stands."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from chime_api.adapters.schedules import PostgresRequests, ScheduleRow
from chime_api.domain.idempotency import StoredResponse
from chime_api.domain.keys import ApiKey
from chime_api.domain.notifications import NoBotError, resolve_bot
from chime_api.domain.problems import ProblemError, closed, not_found
from chime_api.domain.schedules import Action, ClosedError, ScheduleStatus
from chime_api.entrypoints.dependencies import ReadDep, ScheduleDep, ServiceDep
from chime_api.entrypoints.idempotent import IdempotencyKey, respond_once
from chime_api.entrypoints.paging import Cursor, Limit, invalid, next_cursor, position
from chime_api.entrypoints.schemas import TELEGRAM_ID, TOPIC_PATTERN, problems
from chime_api.handlers import schedules
from chime_contracts.events.schedules import MessageTemplate, MisfirePolicy, ScheduleSpec
from chime_kit.unit_of_work import UnitOfWork
from chime_schedules import Spec, SpecError, Timetable, next_line, timetable

PATH = "/v1/schedules"
router = APIRouter(prefix=PATH, tags=["schedules"], responses=problems(401, 403, 422))

EXAMPLE: dict[str, Any] = {
    "chat_id": 42,
    "spec": {"kind": "cron", "expression": "30 8 * * 1-5"},
    "time_zone": "Europe/Berlin",
    "message": {"text": "Stand-up in 5 minutes"},
}


def zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    return name


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    chat_id: int | None = Field(default=None, ge=-TELEGRAM_ID, le=TELEGRAM_ID)
    user_id: int | None = Field(default=None, gt=0, le=TELEGRAM_ID, description="private chat")
    topic: str | None = Field(default=None, pattern=TOPIC_PATTERN, description="a broadcast")
    bot_id: int | None = Field(default=None, gt=0, le=TELEGRAM_ID)
    spec: ScheduleSpec
    time_zone: str = Field(min_length=1, max_length=64, examples=["Europe/Berlin"])
    message: MessageTemplate
    starts_on: date | None = None
    ends_on: date | None = None
    misfire: MisfirePolicy = "fire_late"
    misfire_grace_seconds: int = Field(default=300, ge=0, le=86_400)
    jitter_seconds: int = Field(default=0, ge=0, le=3600)

    _zone = field_validator("time_zone")(zone)

    @model_validator(mode="after")
    def _one_target(self) -> ScheduleIn:
        if sum(t is not None for t in (self.chat_id, self.user_id, self.topic)) != 1:
            raise ValueError("give exactly one of chat_id, user_id, topic")
        checked(self.spec, self.time_zone, self.starts_on, self.ends_on)
        return self


_SPEC: TypeAdapter[Spec] = TypeAdapter(ScheduleSpec)


def spec_of(stored: dict[str, Any]) -> Spec:
    return _SPEC.validate_python(stored)


def checked(
    spec: ScheduleSpec, time_zone: str, starts_on: date | None, ends_on: date | None
) -> Timetable:
    """The spec's timetable; ValueError (a 422) with the library's words if it is wrong."""
    try:
        return timetable(spec, time_zone, starts_on=starts_on, ends_on=ends_on)
    except SpecError as exc:
        raise ValueError(str(exc)) from exc


class PreviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"spec": {"kind": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE"},
                 "time_zone": "Europe/Kyiv", "count": 3}
            ]
        },
    )  # fmt: skip

    spec: ScheduleSpec
    time_zone: str = Field(min_length=1, max_length=64)
    starts_on: date | None = None
    ends_on: date | None = None
    count: int = Field(default=5, ge=1, le=50)

    _zone = field_validator("time_zone")(zone)

    @model_validator(mode="after")
    def _valid(self) -> PreviewIn:
        checked(self.spec, self.time_zone, self.starts_on, self.ends_on)
        return self


class PreviewOut(BaseModel):
    occurrences: list[datetime] = Field(description="the next ones, in the schedule's zone")
    next_line: str | None = Field(description="what a chat is told, as 'next: Mon 2 Mar 09:00'")


def _preview(table: Timetable, time_zone: str, count: int) -> PreviewOut:
    occurrences = table.upcoming(datetime.now(UTC), count)
    line = next_line(occurrences[0], time_zone, None) if occurrences else None
    return PreviewOut(occurrences=occurrences, next_line=line)


class ScheduleOut(BaseModel):
    id: str
    status: ScheduleStatus = Field(
        description="requested until the scheduler has it (then active, or rejected with a"
        " `reason`); paused, cancelled, or finished when no occurrence is left"
    )
    number: int | None = Field(default=None, description="the short number a chat sees, #12")
    next_at: datetime | None = Field(default=None, description="the next occurrence (UTC)")
    last_fired_at: datetime | None = None
    fired: int = Field(default=0, description="occurrences fired so far")
    reason: str | None = Field(default=None, description="why the scheduler refused it")
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
    created_at: datetime

    @classmethod
    def of(cls, row: ScheduleRow) -> ScheduleOut:
        fields = {k: v for k, v in row.__dict__.items() if k in cls.model_fields}
        return cls(**fields)


class SchedulePage(BaseModel):
    items: list[ScheduleOut]
    next_cursor: str | None


class SchedulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: ScheduleSpec | None = None
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)
    message: MessageTemplate | None = None
    ends_on: date | None = None

    _zone = field_validator("time_zone")(lambda v: zone(v) if v is not None else v)


def target_bot(requested: int | None, default: int | None) -> int:
    try:
        return resolve_bot(requested, default)
    except NoBotError as exc:
        raise invalid("body.bot_id", str(exc)) from exc


@router.post("", status_code=202, response_model=ScheduleOut, responses=problems(409))
async def create_schedule(
    body: ScheduleIn, key: ScheduleDep, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Ask the scheduler for a schedule: once, cron, RRULE or random pings in a window."""
    new = schedules.NewSchedule(
        bot_id=target_bot(body.bot_id, service.settings.default_bot_id),
        chat_id=body.chat_id if body.chat_id is not None else body.user_id,
        topic=body.topic, spec=body.spec, time_zone=body.time_zone, message=body.message,
        starts_on=body.starts_on, ends_on=body.ends_on, misfire=body.misfire,
        misfire_grace_seconds=body.misfire_grace_seconds, jitter_seconds=body.jitter_seconds,
    )  # fmt: skip

    async def effect(uow: UnitOfWork) -> StoredResponse:
        row = await schedules.create_schedule(uow, PostgresRequests(uow.conn), key, new)
        return StoredResponse(
            202, ScheduleOut.of(row).model_dump(mode="json"), {"Location": f"{PATH}/{row.id}"}
        )

    dumped = body.model_dump(mode="json")
    return await respond_once(service, key, idempotency_key, PATH, dumped, effect)


previews = APIRouter(
    prefix="/v1/schedule-previews", tags=["schedules"], responses=problems(401, 403, 422)
)


@previews.post("", response_model=PreviewOut, summary="Next occurrences of a spec")
async def preview(
    body: PreviewIn, key: ScheduleDep, idempotency_key: IdempotencyKey = None
) -> PreviewOut:
    """Computes, changes nothing (so any Idempotency-Key is idempotent by nature)."""
    table = checked(body.spec, body.time_zone, body.starts_on, body.ends_on)
    return _preview(table, body.time_zone, body.count)


@router.get("/{schedule_id}/preview", response_model=PreviewOut, responses=problems(404))
async def preview_schedule(
    schedule_id: str,
    key: ReadDep,
    service: ServiceDep,
    count: Annotated[int, Query(ge=1, le=50)] = 5,
) -> PreviewOut:
    """The next occurrences of a stored schedule, as its spec and zone stand now."""
    async with service.limits_pool.acquire() as conn:
        row = await schedules.get_schedule(PostgresRequests(conn), key, schedule_id)
    if row is None:
        raise ProblemError(not_found(f"schedule {schedule_id}"))
    spec = spec_of(row.spec)
    try:
        table = checked(spec, row.time_zone, row.starts_on, row.ends_on)
    except ValueError:
        return PreviewOut(occurrences=[], next_line=None)
    return _preview(table, row.time_zone, count)


@router.get("", response_model=SchedulePage, summary="Schedules of this key's owner")
async def list_schedules(
    key: ReadDep,
    service: ServiceDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Annotated[Literal["requested", "active", "paused", "cancelled"] | None, Query()] = None,
) -> SchedulePage:
    # The hot path's pool: one read, no session state, no reset on release.
    async with service.limits_pool.acquire() as conn:
        rows, more = await schedules.list_schedules(
            PostgresRequests(conn), key, limit, position(cursor), status
        )
    last = (rows[-1].created_at, rows[-1].id) if rows else None
    return SchedulePage(
        items=[ScheduleOut.of(r) for r in rows], next_cursor=next_cursor(last, more)
    )


@router.get("/{schedule_id}", response_model=ScheduleOut, responses=problems(404))
async def get_schedule(schedule_id: str, key: ReadDep, service: ServiceDep) -> ScheduleOut:
    async with service.limits_pool.acquire() as conn:
        row = await schedules.get_schedule(PostgresRequests(conn), key, schedule_id)
    if row is None:
        raise ProblemError(not_found(f"schedule {schedule_id}"))
    return ScheduleOut.of(row)


async def _change_in(
    uow: UnitOfWork,
    key: ApiKey,
    schedule_id: str,
    action: Action,
    update: schedules.Update | None = None,
) -> ScheduleOut:
    try:
        row = await schedules.change_schedule(
            uow, PostgresRequests(uow.conn), key, schedule_id, action, update
        )
    except ClosedError as exc:
        raise ProblemError(closed(f"schedule {schedule_id}")) from exc
    if row is None:
        raise ProblemError(not_found(f"schedule {schedule_id}"))
    return ScheduleOut.of(row)


async def _change(
    service: ServiceDep,
    key: ApiKey,
    schedule_id: str,
    action: Action,
    update: schedules.Update | None = None,
) -> ScheduleOut:
    async with service.runtime.unit_of_work() as uow:
        return await _change_in(uow, key, schedule_id, action, update)


@router.patch("/{schedule_id}", response_model=ScheduleOut, responses=problems(404, 409))
async def update_schedule(
    schedule_id: str, body: SchedulePatch, key: ScheduleDep, service: ServiceDep
) -> ScheduleOut:
    """Change the spec, zone, message or end; the scheduler applies it from the next fire."""
    update = schedules.Update(body.spec, body.time_zone, body.message, body.ends_on)
    if body.spec is not None or body.time_zone is not None:
        async with service.runtime.pool.acquire() as conn:
            row = await schedules.get_schedule(PostgresRequests(conn), key, schedule_id)
        if row is not None:
            spec = body.spec or spec_of(row.spec)
            try:
                checked(spec, body.time_zone or row.time_zone, row.starts_on, body.ends_on)
            except ValueError as exc:
                raise invalid("body.spec", str(exc)) from exc
    return await _change(service, key, schedule_id, "update", update)


def _action_route(action: Action, summary: str) -> None:
    @router.post(
        f"/{{schedule_id}}/{action}",
        response_model=ScheduleOut,
        responses=problems(404, 409),
        summary=summary,
        name=f"{action}_schedule",
    )
    async def act(
        schedule_id: str,
        key: ScheduleDep,
        service: ServiceDep,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        async def effect(uow: UnitOfWork) -> StoredResponse:
            out = await _change_in(uow, key, schedule_id, action)
            return StoredResponse(200, out.model_dump(mode="json"), {})

        path = f"{PATH}/{schedule_id}/{action}"
        return await respond_once(service, key, idempotency_key, path, None, effect)


_action_route("pause", "Pause: nothing fires until resumed (doing it twice changes nothing)")
_action_route("resume", "Resume a paused schedule")


@router.delete("/{schedule_id}", status_code=204, responses=problems(404))
async def delete_schedule(schedule_id: str, key: ScheduleDep, service: ServiceDep) -> Response:
    """Cancel the schedule for good (deleting it again changes nothing)."""
    await _change(service, key, schedule_id, "cancel")
    return Response(status_code=204)

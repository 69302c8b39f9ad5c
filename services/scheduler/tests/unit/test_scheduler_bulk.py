"""The bulk loader's own shortcuts, held to what they stand for: pure, no I/O."""

import time
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as clock

import pytest
from ulid import ULID

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import ScheduleCreated, ScheduleRequested
from chime_contracts.events.schedules import (
    CronSpec,
    MessageTemplate,
    OnceSpec,
    PingsSpec,
    RRuleSpec,
    ScheduleOwner,
)
from chime_contracts.events.shared import InlineButton, Media
from chime_scheduler.adapters.bulk import _caused, _event_ids, _json
from chime_scheduler.domain import schedules
from chime_scheduler.domain.schedules import SCHEDULE

pytestmark = pytest.mark.unit
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_event_ids_are_ulids_of_now_each_different():
    before = time.time()
    ids = list(_event_ids(2000))
    after = time.time()
    assert len(set(ids)) == 2000
    for event_id in ids:
        parsed = ULID.from_str(event_id)
        assert str(parsed) == event_id
        assert before - 0.001 <= parsed.timestamp <= after + 0.001
    # Random bits reach every character past the time's ten.
    assert all(len({i[n] for i in ids}) > 1 for n in range(10, 26))


def test_bulk_envelope_is_valid():
    asked = envelope_of(ScheduleRequested(
        schedule_id="s1", owner=ScheduleOwner(kind="chat", id="1:5"), bot_id=1, chat_id=5,
        spec=CronSpec(expression="0 9 * * *"), time_zone="Europe/Kyiv",
        message=MessageTemplate(text="stand-up"), requested_at=datetime.now(UTC),
    ), producer="api", traceparent=TRACEPARENT)  # fmt: skip
    created = schedules.create(SCHEDULE.initial, asked, 1)[-1]
    assert isinstance(created, ScheduleCreated)
    made = _caused(created, asked, next(_event_ids(1)))
    usual = envelope_of(created, producer="scheduler", causation=asked)
    validated = Envelope[ScheduleCreated].model_validate_json(made.model_dump_json())
    assert validated == made
    assert made.model_dump(exclude={"id", "occurred_at"}) == usual.model_dump(
        exclude={"id", "occurred_at"}
    )


def _requests() -> list[Envelope[ScheduleRequested]]:
    now = datetime.now(UTC)
    message = MessageTemplate(
        text="stand-up ☕ {name}",
        parse_mode="HTML",
        variables={"name": "Ann"},
        buttons=[
            [InlineButton(text="go", url="https://example.org/x")],
            [InlineButton(text="later", callback_data="snooze:1")],
        ],
        media=Media(kind="photo", file="https://example.org/p.png"),
        disable_notification=True,
    )
    specs = [
        CronSpec(expression="0 9 * * 1-5"),
        RRuleSpec(rrule="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5"),
        RRuleSpec(
            rrule="FREQ=DAILY",
            starts_at=datetime(2026, 3, 1, 9, 0, 0, 250_000),
            exdates=[datetime(2026, 3, 2, 9)],
            rdates=[datetime(2026, 3, 4, 18, 30)],
        ),
        PingsSpec(
            per_day=3, window_start=clock(10), window_end=clock(22, 30), min_spacing_minutes=30
        ),
        OnceSpec(at=now + timedelta(days=1, microseconds=7)),
        OnceSpec(at=datetime(2030, 2, 1, 8, 0)),
        OnceSpec(at=datetime(2030, 2, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))),
    ]
    return [
        envelope_of(
            ScheduleRequested(
                schedule_id=f"s{n}",
                owner=ScheduleOwner(kind="api_key", id="k"),
                bot_id=1,
                chat_id=5 if n % 2 else None,
                topic=None if n % 2 else "news",
                spec=spec,
                time_zone="Europe/Kyiv",
                starts_on=date(2026, 3, 1) if n == 1 else None,
                ends_on=date(2031, 1, 1) if n == 2 else None,
                message=message,
                language="uk" if n % 3 else None,
                jitter_seconds=n,
                requested_at=now,
            ),
            producer="api",
            traceparent=TRACEPARENT if n % 2 else None,
        )
        for n, spec in enumerate(specs)
    ]


def test_bulk_json_is_pydantics():
    """The loader's JSON of a request and of what it decided (created, or rejected: the
    COUNT=5 rule starting in March 2026 is over), byte for byte."""
    kinds = set()
    for n, asked in enumerate(_requests()):
        asked_json = _json(asked)
        assert asked_json == asked.model_dump_json().encode()
        decided = schedules.create(SCHEDULE.initial, asked, n + 1)[-1]
        assert not isinstance(decided, Envelope)
        made = _caused(decided, asked, next(_event_ids(1)))
        assert _json(made) == made.model_dump_json().encode()
        kinds.add(made.type)
    assert kinds == {"schedule.created.v1", "schedule.rejected.v1"}


def test_bulk_json_refuses_what_is_not_a_model():
    with pytest.raises(TypeError):
        _json(envelope_of(ScheduleRequested.model_construct(schedule_id={1, 2}), producer="x"))

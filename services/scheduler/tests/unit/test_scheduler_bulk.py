"""The bulk loader's own shortcuts, held to what they stand for: pure, no I/O."""

import time
from datetime import UTC, datetime

import pytest
from ulid import ULID

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import ScheduleCreated, ScheduleRequested
from chime_contracts.events.schedules import CronSpec, MessageTemplate, ScheduleOwner
from chime_scheduler.adapters.bulk import _caused, _event_ids
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

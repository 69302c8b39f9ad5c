"""The firing's shortcuts, held to what they stand for: pure, no I/O."""

from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from chime_contracts.envelope import (
    Envelope,
    constructed,
    endless_ids,
    envelope_class,
    envelope_of,
)
from chime_contracts.events import ScheduleFired
from chime_scheduler.domain import schedules

pytestmark = pytest.mark.unit
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(("missed", "following", "jitter"), [(0, None, 0), (3, 3600, 90)])
def test_fired_is_a_valid_one(missed, following, jitter):
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    next_at = at + timedelta(seconds=following) if following else None
    made = schedules.fired("s1", at, at + timedelta(seconds=2), "schedule:s1:1", missed,
                           next_at, jitter)  # fmt: skip
    usual = ScheduleFired(
        schedule_id="s1", occurrence=at, fired_at=at + timedelta(seconds=2),
        delivery_id="schedule:s1:1", missed=missed, next_at=next_at,
        fire_at=schedules.fire_at("s1", next_at, jitter),
    )  # fmt: skip
    assert made == usual
    assert ScheduleFired.model_validate_json(made.model_dump_json()) == made


@pytest.mark.parametrize("causation", [None, "01J0000000000000000000000A"])
def test_a_constructed_envelope_is_what_envelope_of_makes(causation):
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    fired = schedules.fired("s1", at, at, "schedule:s1:1", 0, None, 0)
    event_id = next(endless_ids())
    made = constructed(fired, event_id, "scheduler", "corr-1", causation, TRACEPARENT, None)
    validated = Envelope[ScheduleFired].model_validate_json(made.model_dump_json())
    assert validated == made
    usual = envelope_of(fired, producer="scheduler", correlation_id="corr-1",
                        traceparent=TRACEPARENT)  # fmt: skip
    assert made.model_dump(exclude={"id", "occurred_at", "causation_id"}) == usual.model_dump(
        exclude={"id", "occurred_at", "causation_id"}
    )
    assert made.causation_id == causation
    assert str(ULID.from_str(made.id)) == made.id
    assert envelope_class(ScheduleFired) is Envelope[ScheduleFired]


def test_endless_ids_go_on_past_a_chunk_each_different():
    ids = endless_ids(chunk=7)
    taken = [next(ids) for _ in range(50)]
    assert len(set(taken)) == 50

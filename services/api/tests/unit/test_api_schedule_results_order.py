"""The scheduler's results reach the api on a queue per type, so a schedule's first firing
can be applied before its creation: the row ends the same either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chime_api.domain.requests import evolve_schedule
from chime_contracts.events import ScheduleCreated, ScheduleFired, ScheduleRequested
from chime_contracts.events.schedules import CronSpec, MessageTemplate, ScheduleOwner

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
OWNER = ScheduleOwner(kind="api_key", id="key_1")
SPEC = CronSpec(expression="0 9 * * *")
TEMPLATE = MessageTemplate(text="x")
REQUESTED = ScheduleRequested(
    schedule_id="sch_1", owner=OWNER, bot_id=7, chat_id=1, spec=SPEC, time_zone="UTC",
    message=TEMPLATE, requested_at=NOW - timedelta(minutes=1),
)  # fmt: skip
CREATED = ScheduleCreated(
    schedule_id="sch_1", number=12, owner=OWNER, bot_id=7, chat_id=1, spec=SPEC,
    time_zone="UTC", message=TEMPLATE, misfire="fire_late", misfire_grace_seconds=300,
    jitter_seconds=0, next_at=NOW, fire_at=NOW,
)  # fmt: skip
FIRED = ScheduleFired(
    schedule_id="sch_1", occurrence=NOW, fired_at=NOW, delivery_id="d",
    next_at=NOW + timedelta(days=1), fire_at=None,
)  # fmt: skip


def test_a_firing_applied_before_the_creation_leaves_the_same_row() -> None:
    requested = evolve_schedule(None, REQUESTED, "team:t")
    in_order = evolve_schedule(evolve_schedule(requested, CREATED, None), FIRED, None)
    reversed_ = evolve_schedule(evolve_schedule(requested, FIRED, None), CREATED, None)
    assert in_order is not None
    assert (in_order.status, in_order.number, in_order.fired) == ("active", 12, 1)
    assert in_order.next_at == NOW + timedelta(days=1)
    assert reversed_ == in_order

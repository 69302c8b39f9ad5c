"""`trusted` builds what pydantic's `model_construct` builds, and nothing it cannot."""

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr

from chime_contracts.envelope import Envelope
from chime_contracts.events import ScheduleCreated
from chime_contracts.events.schedules import CronSpec, MessageTemplate, ScheduleOwner
from chime_scheduler.domain.trusted import trusted

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def created_values() -> dict[str, object]:
    return {
        "type": "schedule.created.v1", "schedule_id": "s1", "number": 3,
        "owner": ScheduleOwner(kind="chat", id="1:5"), "bot_id": 1, "chat_id": 5,
        "topic": None, "spec": CronSpec(expression="0 9 * * *"), "time_zone": "Europe/Kyiv",
        "starts_on": None, "ends_on": None, "message": MessageTemplate(text="stand-up"),
        "misfire": "fire_late", "misfire_grace_seconds": 60, "jitter_seconds": 0,
        "language": None, "next_at": NOW, "fire_at": NOW,
    }  # fmt: skip


def test_equals_model_construct_and_validates_to_itself():
    made = trusted(ScheduleCreated, **created_values())
    assert made == ScheduleCreated.model_construct(**created_values())
    assert (
        made.model_fields_set
        == ScheduleCreated.model_construct(**created_values()).model_fields_set
    )
    assert ScheduleCreated.model_validate_json(made.model_dump_json()) == made
    envelope = trusted(
        Envelope[ScheduleCreated], id="01J0000000000000000000000A", type=made.type,
        occurred_at=NOW, producer="scheduler", correlation_id="c", causation_id=None,
        traceparent=None, tracestate=None, data=made,
    )  # fmt: skip
    assert Envelope[ScheduleCreated].model_validate_json(envelope.model_dump_json()) == envelope


def test_refuses_missing_or_unknown_fields():
    values = created_values()
    del values["language"]
    with pytest.raises(TypeError, match="language"):
        trusted(ScheduleCreated, **values)
    with pytest.raises(TypeError):
        trusted(ScheduleCreated, **created_values(), colour="red")


def test_refuses_models_needing_more_than_their_fields():
    class Private(BaseModel):
        x: int
        _cache: int = PrivateAttr(default=0)

    class Extra(BaseModel):
        model_config = ConfigDict(extra="allow")
        x: int

    for model in (Private, Extra):
        with pytest.raises(TypeError, match="model_construct"):
            trusted(model, x=1)

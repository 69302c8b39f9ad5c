"""`send.batch.requested.v1` with and without `deliveries` (a firing batch's occurrences)."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import SendBatchRequested
from chime_contracts.events.shared import BatchDelivery, InlineButton, SendSource

AT = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _delivery(schedule: str, chat: int, **kw: object) -> BatchDelivery:
    return BatchDelivery(
        delivery_id=f"schedule:{schedule}:{int(AT.timestamp())}", chat_id=chat,
        text=f"hello {chat}", source=SendSource(kind="schedule", id=schedule), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_slice_without_deliveries_is_what_it_was():
    batch = SendBatchRequested(
        batch_id="b1", bot_id=1, chat_ids=[1, 2], text="news",
        source=SendSource(kind="broadcast", id="b"),
    )  # fmt: skip
    assert batch.deliveries is None
    assert "deliveries" not in batch.model_dump(exclude_none=True)


def test_deliveries_travel_whole_through_an_envelope():
    button = InlineButton(text="Snooze", callback_data="snooze:15m")
    deliveries = [
        _delivery("s1", 10, scheduled_for=AT, traceparent=TRACE, buttons=[[button]]),
        _delivery("s2", 11, parse_mode="HTML", variables={"n": "1"}, disable_notification=True),
        _delivery("s3", 10),  # the same chat again: another schedule, another delivery
    ]
    first = deliveries[0]
    batch = SendBatchRequested(
        batch_id="fire:x", bot_id=7, chat_ids=[10, 11, 10], text=first.text,
        source=first.source, deliveries=deliveries,
    )  # fmt: skip
    body = envelope_of(batch, producer="scheduler").model_dump_json()
    back = Envelope[SendBatchRequested].model_validate_json(body).data
    assert back.deliveries == deliveries
    assert back.deliveries is not None
    assert back.deliveries[0].traceparent == TRACE
    assert back.deliveries[1].parse_mode == "HTML"
    assert back.deliveries[2].source.id == "s3"


def test_chat_ids_must_name_the_deliveries_chats():
    with pytest.raises(ValidationError, match="chat_ids must list"):
        SendBatchRequested(
            batch_id="fire:x", bot_id=7, chat_ids=[10, 12], text="t",
            source=SendSource(kind="schedule", id="s1"),
            deliveries=[_delivery("s1", 10), _delivery("s2", 11)],
        )  # fmt: skip


def test_a_delivery_needs_its_own_id_text_and_source():
    with pytest.raises(ValidationError):
        BatchDelivery(
            delivery_id="", chat_id=1, text="t", source=SendSource(kind="schedule", id="s")
        )
    with pytest.raises(ValidationError):
        BatchDelivery.model_validate({"delivery_id": "d", "chat_id": 1, "text": "t"})

"""Traces across the scheduler's wait: an occurrence fires in a trace of its own whose span
links to the spans of the requests behind its schedule (or timed broadcast), and what it
hands the sender, now or paced later, continues that trace."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace

from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    BroadcastRequested,
    ScheduleChangeRequested,
    SubscriptionRequested,
)
from chime_contracts.events.schedules import MessageTemplate, RRuleSpec, ScheduleOwner
from chime_kit.telemetry import current_traceparent
from chime_scheduler import handlers
from chime_scheduler.adapters.postgres import PostgresStore
from chime_scheduler.domain import broadcasts
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

from .flow import chat_owner, outbox, schedule_request

pytestmark = pytest.mark.integration
tracer = trace.get_tracer("test")


@pytest.fixture
async def scheduler(database_url):
    built = await create_service(SchedulerSettings(database_url=database_url))
    yield built
    await built.runtime.pool.close()


async def deliver_within_request(scheduler, name, envelope):
    """Deliver `envelope` as a request's service would publish it: the envelope and the
    message's header carry the request span's traceparent (the relay copies it), and the
    scheduler's consumer span is the request's child."""
    with tracer.start_as_current_span(name) as request:
        traceparent = current_traceparent()[0]
        envelope = envelope.model_copy(update={"traceparent": traceparent})
        await scheduler.runtime.broker.deliver(envelope, headers={"traceparent": traceparent})
    return request.get_span_context()


def consumed_within(spans, request):
    """The scheduler's consumer span of the request `request` started."""
    (consumed,) = [
        s for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == request.span_id
        and s.kind is trace.SpanKind.CONSUMER
    ]  # fmt: skip
    return pair(consumed.context)


def pair(context):
    return context.trace_id, context.span_id


def ids(traceparent):
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


async def test_an_occurrence_fires_linked_to_the_requests_that_created_and_updated_it(
    scheduler, spans
):
    now = datetime.now(UTC)
    # An update schedules the next occurrence after it: the first is a moment away.
    start = (now + timedelta(seconds=2)).replace(microsecond=0)
    created = await deliver_within_request(scheduler, "POST /v1/schedules", schedule_request(
        "every", RRuleSpec(rrule="FREQ=MINUTELY;INTERVAL=10", starts_at=start),
        requested_at=now,
    ))  # fmt: skip
    updated = await deliver_within_request(scheduler, "PATCH /v1/schedules", envelope_of(
        ScheduleChangeRequested(
            change_id="c1", schedule_id="every", owner=chat_owner(5), action="update",
            message=MessageTemplate(text="new text"), requested_at=now,
        ), producer="api",
    ))  # fmt: skip
    consumed = [consumed_within(spans, r) for r in (created, updated)]
    await outbox(scheduler.runtime.pool)
    await asyncio.sleep((start - datetime.now(UTC)).total_seconds())
    spans.clear()

    assert await scheduler.firing.fire_until_idle() == 1
    (fire,) = [s for s in spans.get_finished_spans() if s.name == "fire schedule"]
    assert fire.parent is None
    assert fire.context.trace_id not in (created.trace_id, updated.trace_id)
    assert [(pair(link.context), link.attributes["chime.link"]) for link in fire.links] == [
        (consumed[0], "requested by"), (consumed[1], "changed by"),
    ]  # fmt: skip
    assert consumed[0][0] == created.trace_id
    assert fire.attributes["chime.schedule_id"] == "every"
    # The occurrence, one delivery of the batch's send.batch.requested.v1, continues the
    # firing's trace, under its span.
    (send,) = await outbox(scheduler.runtime.pool)
    (delivery,) = send["data"]["deliveries"]
    assert (send["type"], delivery["text"]) == ("send.batch.requested.v1", "new text")
    assert ids(delivery["traceparent"]) == pair(fire.context)
    correlation = "SELECT correlation_id FROM schedules WHERE id = 'every'"
    assert delivery["correlation_id"] == await scheduler.runtime.pool.fetchval(correlation)


async def test_a_timed_broadcast_starts_linked_to_its_request_and_its_held_slices_continue(
    scheduler, spans, monkeypatch
):
    monkeypatch.setattr(broadcasts, "SLICE", 2)
    monkeypatch.setattr(broadcasts, "PER_SECOND", 0.001)
    monkeypatch.setattr(broadcasts, "HAND_AHEAD", timedelta(0))
    now = datetime.now(UTC)
    for chat_id in (1, 2, 3):
        await scheduler.runtime.broker.deliver(envelope_of(SubscriptionRequested(
            bot_id=1, chat_id=chat_id, topic="news", action="subscribe",
            requested_by=chat_owner(chat_id), requested_at=now), producer="ingest"))  # fmt: skip
    requested = await deliver_within_request(scheduler, "POST /v1/broadcasts", envelope_of(
        BroadcastRequested(
            broadcast_id="b1", owner=ScheduleOwner(kind="api_key", id="key_1"), bot_id=1,
            topic="news", message=MessageTemplate(text="v2 is out"), at=now, requested_at=now,
        ), producer="api",
    ))  # fmt: skip
    await outbox(scheduler.runtime.pool)
    spans.clear()

    assert await scheduler.firing.fire_until_idle() == 1
    (start,) = [s for s in spans.get_finished_spans() if s.name == "start broadcast"]
    assert start.parent is None
    # The request as kept in the broadcast's stream: the link is to the request's own span.
    assert [pair(link.context) for link in start.links] == [pair(requested)]
    assert start.attributes["chime.broadcast_id"] == "b1"
    handed = [e for e in await outbox(scheduler.runtime.pool) if e["type"].startswith("send.")]
    assert [e["data"]["chat_ids"] for e in handed] == [[1, 2]]
    # The held slice, handed later by a loop with no trace of its own, continues the start's.
    async with scheduler.runtime.unit_of_work() as uow:
        later = now + timedelta(days=1)
        assert await handlers.hand_due_slices(uow, PostgresStore(uow.conn), later, 10) == 1
    (later,) = await outbox(scheduler.runtime.pool, "send.batch.requested.v1")
    assert later["data"]["chat_ids"] == [3]
    for event in (*handed, later):
        assert ids(event["traceparent"]) == pair(start.context)

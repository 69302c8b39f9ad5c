from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from ulid import ULID

from chime_contracts.envelope import (
    Envelope,
    constructed,
    envelope_class,
    envelope_of,
    event_ids,
    new_event_id,
    ulid_text,
    wrapped,
)
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRecipientsSkipped,
    BroadcastRequested,
    BroadcastStarted,
    ChatAssigned,
    ChatAssignmentConfirmed,
    ChatBlocked,
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    ListingRequested,
    MessageDeleteRequested,
    MessageEditRequested,
    MessageReceived,
    MessageSent,
    NotificationDue,
    NotificationRequested,
    ReminderRequested,
    ReminderScheduled,
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleFired,
    ScheduleRejected,
    ScheduleRequested,
    SendBatchRequested,
    SendFailed,
    SendRequested,
    SnoozeRequested,
    SubscriptionChanged,
    SubscriptionRequested,
    TimeZoneSet,
    UpdateReceived,
    UserStarted,
)
from chime_contracts.events.schedules import (
    CronSpec,
    MessageTemplate,
    PingsSpec,
    RRuleSpec,
    ScheduleOwner,
)
from chime_contracts.events.shared import InlineButton, Media, SendSource
from chime_contracts.registry import ALL_EVENTS, event_class

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)

SAMPLES = [
    UpdateReceived(bot_id=1, update_id=7, kind="message", chat_id=5, user_id=5, update={"a": 1}),
    UserStarted(bot_id=1, chat_id=5, user_id=5, username="ann"),
    TimeZoneSet(bot_id=1, chat_id=5, user_id=5, time_zone="Europe/Kyiv"),
    ReminderRequested(
        reminder_id="r1",
        bot_id=1,
        chat_id=5,
        user_id=5,
        text="hi",
        due_at=NOW,
        time_zone="Europe/Kyiv",
        phrase="in 2s",
    ),
    ReminderScheduled(reminder_id="r1", bot_id=1, chat_id=5, due_at=NOW),
    ReminderScheduled(reminder_id="r1", bot_id=1, chat_id=5, due_at=NOW, time_zone="Asia/Tokyo"),
    NotificationDue(
        delivery_id="d",
        source="reminder",
        source_id="r1",
        bot_id=1,
        chat_id=5,
        text="hi",
        due_at=NOW,
        fired_at=NOW,
    ),
    NotificationRequested(
        notification_id="n", api_key_id="k", bot_id=1, chat_id=5, text="x", requested_at=NOW
    ),
    SendRequested(delivery_id="d", bot_id=1, chat_id=5, text="hi", origin="api"),
    MessageSent(
        delivery_id="d", bot_id=1, chat_id=5, telegram_message_id=3, attempts=1, sent_at=NOW
    ),
    SendFailed(
        delivery_id="d",
        bot_id=1,
        chat_id=5,
        reason="blocked",
        permanent=True,
        attempts=1,
        failed_at=NOW,
    ),
    ChatBlocked(bot_id=1, chat_id=5, detected_by="send_forbidden", blocked_at=NOW),
    LanguageSet(bot_id=1, chat_id=5, language="uk", chosen_by="telegram"),
    MessageReceived(
        bot_id=1,
        update_id=8,
        update_kind="message",
        chat_id=5,
        chat_type="private",
        message_id=40,
        user_id=5,
        content_type="text",
        text="/list",
        command="/list",
        sent_at=NOW,
    ),
    ChatMemberChanged(
        bot_id=1,
        chat_id=5,
        chat_type="private",
        old_state="member",
        new_state="kicked",
        bot_username="chime_bot",
        changed_at=NOW,
    ),
    ChatMigrated(bot_id=1, old_chat_id=-5, new_chat_id=-1005, migrated_at=NOW),
    ChatStopped(bot_id=1, chat_id=5, stopped_at=NOW),
    ChatResumed(bot_id=1, chat_id=5, resumed_at=NOW),
    ChatAssigned(
        pool="main",
        chat_id=5,
        user_id=5,
        bot_id=2,
        front_bot_id=1,
        started_bot_id=1,
        pool_bot_ids=[1, 2, 3],
        payload="a1bWFpbjo1",
        assigned_at=NOW,
    ),
    ChatAssignmentConfirmed(pool="main", chat_id=5, user_id=5, bot_id=2, confirmed_at=NOW),
    ScheduleRequested(
        schedule_id="s1",
        owner=ScheduleOwner(kind="chat", id="1:5"),
        bot_id=1,
        chat_id=5,
        spec=RRuleSpec(rrule="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5"),
        time_zone="Europe/Kyiv",
        message=MessageTemplate(text="stand-up"),
        requested_at=NOW,
    ),
    ScheduleChangeRequested(
        change_id="c1",
        schedule_id="s1",
        owner=ScheduleOwner(kind="api_key", id="key_1"),
        action="update",
        spec=PingsSpec(per_day=3, window_start="10:00", window_end="22:00", seed=7),
        requested_at=NOW,
    ),
    SubscriptionRequested(
        bot_id=1,
        chat_id=5,
        topic="releases",
        action="subscribe",
        requested_by=ScheduleOwner(kind="chat", id="1:5"),
        requested_at=NOW,
    ),
    BroadcastRequested(
        broadcast_id="b1",
        owner=ScheduleOwner(kind="api_key", id="key_1"),
        bot_id=1,
        topic="releases",
        message=MessageTemplate(text="v2 is out, {name}", variables={"name": "<all>"}),
        requested_at=NOW,
    ),
    ScheduleCreated(
        schedule_id="s1",
        number=12,
        owner=ScheduleOwner(kind="chat", id="1:5"),
        bot_id=1,
        chat_id=5,
        spec=CronSpec(expression="30 8 * * 1-5"),
        time_zone="Europe/Kyiv",
        message=MessageTemplate(text="stand-up"),
        misfire="fire_late",
        misfire_grace_seconds=300,
        jitter_seconds=0,
        language="uk",
        next_at=NOW,
        fire_at=NOW,
    ),
    ScheduleRejected(
        request_id="c1",
        schedule_ref="#12",
        owner=ScheduleOwner(kind="chat", id="1:5"),
        action="cancel",
        reason="no schedule #12 in this chat",
    ),
    ScheduleChanged(
        schedule_id="s1",
        change_id="c1",
        action="paused",
        by="owner",
        status="paused",
        next_at=None,
        fire_at=None,
    ),
    ScheduleFired(
        schedule_id="s1",
        occurrence=NOW,
        fired_at=NOW,
        delivery_id="schedule:s1:1",
        missed=0,
        next_at=NOW,
        fire_at=NOW,
    ),
    SubscriptionChanged(bot_id=1, chat_id=5, topic="releases", subscribed=True, changed_at=NOW),
    BroadcastStarted(
        broadcast_id="b1",
        owner=ScheduleOwner(kind="api_key", id="key_1"),
        bot_id=1,
        topic="releases",
        recipients=100,
        skipped=2,
        slices=1,
        started_at=NOW,
        estimated_finish_at=NOW,
    ),
    BroadcastProgressed(broadcast_id="b1", handed=100, sent=50, failed=1, skipped=2),
    BroadcastRecipientsSkipped(
        slice_id="b1:skipped:0",
        broadcast_id="b1",
        bot_id=1,
        reason="blocked",
        chat_ids=[7, 8],
        skipped_at=NOW,
    ),
    BroadcastFinished(broadcast_id="b1", handed=100, sent=98, failed=2, skipped=2, finished_at=NOW),
    BroadcastCancelRequested(
        broadcast_id="b1", owner=ScheduleOwner(kind="api_key", id="key_1"), requested_at=NOW
    ),
    SnoozeRequested(
        snooze_id="z1",
        bot_id=1,
        chat_id=5,
        text="hi",
        until=NOW,
        time_zone="Europe/Kyiv",
        requested_at=NOW,
    ),
    SendBatchRequested(
        batch_id="b1:0",
        bot_id=1,
        chat_ids=[5, 6],
        text="v2 is out",
        source=SendSource(kind="broadcast", id="b1"),
        buttons=[[InlineButton(text="Notes", url="https://example.org/v2")]],
        media=Media(kind="photo", file="https://example.org/v2.png"),
    ),
    MessageEditRequested(edit_id="e1", delivery_id="d", text="fixed"),
    MessageDeleteRequested(delete_id="x1", delivery_id="d"),
    ListingRequested(
        request_id="l1", bot_id=1, chat_id=5, what="schedules", time_zone="UTC", requested_at=NOW
    ),
]


def test_samples_cover_every_event():
    assert {type(s) for s in SAMPLES} == set(ALL_EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_envelope_round_trips_through_json(event):
    envelope = envelope_of(
        event, producer="test", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )
    cls = event_class(event.type)
    again = Envelope[cls].model_validate_json(envelope.model_dump_json())
    assert again == envelope
    assert again.routing_key == event.type


def test_unknown_fields_are_ignored_by_consumers():
    raw = envelope_of(SAMPLES[1], producer="test").model_dump(mode="json")
    raw["future"] = 1
    raw["data"]["new_field"] = "x"
    assert Envelope[UserStarted].model_validate(raw).data == SAMPLES[1]


def test_caused_event_inherits_correlation_and_records_cause():
    cause = envelope_of(SAMPLES[2], producer="ingest")
    effect = envelope_of(SAMPLES[3], producer="scheduler", causation=cause)
    assert effect.correlation_id == cause.correlation_id == cause.id
    assert effect.causation_id == cause.id


def test_envelope_type_must_match_its_data():
    raw = envelope_of(SAMPLES[1], producer="t").model_dump(mode="json")
    raw["type"] = "user.started.v2"
    with pytest.raises(ValidationError):
        Envelope[UserStarted].model_validate(raw)


def test_events_are_frozen():
    with pytest.raises(ValidationError):
        SAMPLES[1].chat_id = 9  # type: ignore[misc]


def test_unknown_type_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown event type"):
        event_class("nope.v1")


# -- envelopes made without validating again (`wrapped`, `constructed`) -----------------------

_HEX = "0123456789abcdef"
TRACEPARENTS = st.none() | st.builds(
    lambda t, s, f: f"00-{t}-{s}-{f}",
    st.text(_HEX, min_size=32, max_size=32),
    st.text(_HEX, min_size=16, max_size=16),
    st.sampled_from(["00", "01"]),
)
TRACESTATES = st.none() | st.sampled_from(["vendor=abc", "a=1,b=2"])


@given(
    event=st.sampled_from(SAMPLES),
    correlation_id=st.none() | st.text(min_size=1, max_size=30),
    caused=st.booleans(),
    traceparent=TRACEPARENTS,
    tracestate=TRACESTATES,
)
def test_wrapped_is_what_envelope_of_makes_and_revalidates_equal(
    event, correlation_id, caused, traceparent, tracestate
):
    cause = envelope_of(SAMPLES[2], producer="ingest") if caused else None
    args = dict(
        producer="test", correlation_id=correlation_id, causation=cause,
        traceparent=traceparent, tracestate=tracestate,
    )  # fmt: skip
    made = wrapped(event, **args)
    usual = envelope_of(event, **args)
    assert type(made) is type(usual) is Envelope[type(event)]
    # Held to the model: validated again, it is itself.
    again = Envelope[type(event)].model_validate_json(made.model_dump_json())
    assert again == made
    assert Envelope[type(event)].model_validate(made.model_dump()) == made
    # The same rules as `envelope_of`: correlation and causation, trace context, type.
    different = {"id", "occurred_at", "correlation_id"}
    assert made.model_dump(exclude=different) == usual.model_dump(exclude=different)
    if correlation_id is not None:
        assert made.correlation_id == usual.correlation_id == correlation_id
    elif cause is not None:
        assert made.correlation_id == usual.correlation_id == cause.correlation_id
    else:
        assert (made.correlation_id, usual.correlation_id) == (made.id, usual.id)
    assert made.causation_id == (cause.id if cause else None)
    assert made.data is event
    assert made.routing_key == usual.routing_key
    assert str(ULID.from_str(made.id)) == made.id


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_constructed_is_what_model_construct_makes(event):
    at_least = datetime.now(UTC)
    made = constructed(event, "01J0000000000000000000000A", "p", "c", None, None, None)
    usual = Envelope[type(event)].model_construct(
        id=made.id, type=event.type, occurred_at=made.occurred_at, producer="p",
        correlation_id="c", causation_id=None, traceparent=None, tracestate=None, data=event,
    )  # fmt: skip
    assert made == usual
    assert made.model_fields_set == usual.model_fields_set
    assert made.model_extra == usual.model_extra
    assert made.__pydantic_private__ == usual.__pydantic_private__
    assert made.model_dump_json() == usual.model_dump_json()
    assert made.occurred_at >= at_least
    assert made.occurred_at.tzinfo is UTC
    with pytest.raises(ValidationError):
        made.id = "x"  # frozen, like any envelope
    assert envelope_class(type(event)) is Envelope[type(event)]


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_ulid_text_is_python_ulids(value):
    assert ulid_text(value) == str(ULID.from_int(value))


def test_event_ids_are_ulids_of_now_each_above_the_last():
    before = datetime.now(UTC)
    ids = [new_event_id() for _ in range(300)] + list(event_ids(700)) + [new_event_id()]
    after = datetime.now(UTC)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for made in (ids[0], ids[-1]):
        parsed = ULID.from_str(made)
        assert str(parsed) == made
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= parsed.datetime
        assert parsed.datetime <= after

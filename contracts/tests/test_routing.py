"""Routing keys: an event's type, refined by the sender's outcomes with their source kind."""

from datetime import UTC, datetime

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import MessageEditRequested, MessageSent, SendFailed, UserStarted
from chime_contracts.events.shared import InlineButton, SendSource
from chime_contracts.routing import event_type_of, every_refinement_of, topic_matches

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("binding", "key", "matches"),
    [
        ("message.sent.v1", "message.sent.v1", True),
        ("message.sent.v1", "message.sent.v1.notification", False),
        ("message.sent.v1.#", "message.sent.v1", True),
        ("message.sent.v1.#", "message.sent.v1.notification", True),
        ("message.sent.v1.notification", "message.sent.v1.reply", False),
        ("message.*.v1", "message.sent.v1", True),
        ("message.*.v1", "message.sent.v1.reply", False),
        ("#", "anything.at.all", True),
        ("#.v1", "time_zone.set.v1", True),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.b.c", False),
        ("*", "a.b", False),
    ],
)
def test_topic_matching_is_rabbitmqs(binding, key, matches):
    assert topic_matches(binding, key) is matches


@pytest.mark.parametrize(
    ("key", "type_name"),
    [
        ("message.sent.v1.notification", "message.sent.v1"),
        ("message.edit.requested.v1", "message.edit.requested.v1"),
        ("time_zone.set.v12.reply", "time_zone.set.v12"),
        ("no-version", "no-version"),
    ],
)
def test_the_type_is_read_back_from_a_refined_key(key, type_name):
    assert event_type_of(key) == type_name


def _sent(source: SendSource | None) -> MessageSent:
    return MessageSent(
        delivery_id="d1",
        bot_id=1,
        chat_id=2,
        telegram_message_id=3,
        attempts=1,
        sent_at=NOW,
        source=source,
    )


def test_outcomes_are_routed_by_their_source_kind():
    sent = envelope_of(_sent(SendSource(kind="notification", id="ntf_1")), producer="sender")
    assert sent.routing_key == "message.sent.v1.notification"
    assert topic_matches(every_refinement_of("message.sent.v1"), sent.routing_key)
    failed = SendFailed(
        delivery_id="d1",
        bot_id=1,
        chat_id=2,
        reason="blocked",
        permanent=True,
        attempts=1,
        failed_at=NOW,
        source=SendSource(kind="reply", id="7"),
    )
    assert envelope_of(failed, producer="sender").routing_key == "send.failed.v1.reply"


def test_an_outcome_without_source_and_other_events_keep_their_type():
    assert envelope_of(_sent(None), producer="sender").routing_key == "message.sent.v1"
    started = UserStarted(bot_id=1, chat_id=2, user_id=3)
    assert envelope_of(started, producer="ingest").routing_key == "user.started.v1"


@pytest.mark.parametrize("kind", ["Notification", "a.b", "", "x" * 33])
def test_a_source_kind_is_one_lowercase_word(kind):
    with pytest.raises(ValueError, match="kind"):
        SendSource(kind=kind, id="1")


def test_a_button_has_one_action_and_short_callback_data():
    assert InlineButton(text="Snooze", callback_data="snooze:1").url is None
    with pytest.raises(ValueError, match="exactly one"):
        InlineButton(text="both", url="https://example.org", callback_data="x")
    with pytest.raises(ValueError, match="exactly one"):
        InlineButton(text="none")
    with pytest.raises(ValueError, match="64 bytes"):
        InlineButton(text="long", callback_data="ж" * 33)


def test_an_edit_names_its_message_one_way():
    assert MessageEditRequested(edit_id="e", delivery_id="d", text="t").message_id is None
    by_message = MessageEditRequested(edit_id="e", bot_id=1, chat_id=2, message_id=3, text="t")
    assert by_message.delivery_id is None
    with pytest.raises(ValueError, match="name the message"):
        MessageEditRequested(edit_id="e", text="t")
    with pytest.raises(ValueError, match="name the message"):
        MessageEditRequested(edit_id="e", delivery_id="d", bot_id=1, chat_id=2, message_id=3)

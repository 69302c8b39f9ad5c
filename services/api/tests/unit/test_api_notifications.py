"""Notification ids, sources, the default bot, and how the stream follows the sender."""

from datetime import UTC, datetime

import pytest

from chime_api.domain.notifications import (
    NOTIFICATION,
    NoBotError,
    NotificationState,
    Status,
    delivery_id,
    keep_outcome,
    may_become,
    new_notification_id,
    resolve_bot,
    source_of,
)
from chime_contracts.envelope import envelope_of
from chime_contracts.events import MessageSent, NotificationRequested, SendFailed

pytestmark = pytest.mark.unit
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_notification_is_its_own_source_and_delivery():
    nid = new_notification_id()
    assert nid.startswith("ntf_")
    assert delivery_id(nid) == f"api:{nid}"
    assert source_of(nid).kind == "notification"
    assert source_of(nid).id == nid


def sent(nid):
    return envelope_of(
        MessageSent(
            delivery_id="d", bot_id=1, chat_id=2, telegram_message_id=3, attempts=1, sent_at=NOW,
            source=source_of(nid),
        ),
        producer="sender",
    )  # fmt: skip


def failed(nid, unknown=False):
    return envelope_of(
        SendFailed(
            delivery_id="d", bot_id=1, chat_id=2, reason="r", permanent=True, attempts=1,
            failed_at=NOW, outcome_unknown=unknown, source=source_of(nid),
        ),
        producer="sender",
    )  # fmt: skip


def test_the_stream_keeps_outcomes_that_change_the_status():
    requested = envelope_of(
        NotificationRequested(
            notification_id="n", api_key_id="k", bot_id=1, chat_id=2, text="x", requested_at=NOW
        ),
        producer="api",
    )
    assert keep_outcome(NotificationState(), sent("n")) == []  # not ours: never requested
    state = NOTIFICATION.fold([requested])
    assert state == NotificationState(requested=True, status=Status.ACCEPTED)
    assert keep_outcome(state, failed("n", unknown=True)) != []
    state = NOTIFICATION.fold([failed("n", unknown=True)], state)
    assert state.status is Status.UNKNOWN
    assert keep_outcome(state, failed("n")) == []
    state = NOTIFICATION.fold([sent("n")], state)
    assert state.status is Status.SENT
    assert keep_outcome(state, sent("n")) == []


def test_the_requested_bot_wins_then_the_default():
    assert resolve_bot(7, 9) == 7
    assert resolve_bot(None, 9) == 9
    with pytest.raises(NoBotError):
        resolve_bot(None, None)


@pytest.mark.parametrize(
    ("current", "outcome", "replaces"),
    [
        (Status.ACCEPTED, Status.SENT, True),
        (Status.ACCEPTED, Status.FAILED, True),
        (Status.FAILED, Status.SENT, True),
        (Status.FAILED, Status.FAILED, False),
        (Status.SENT, Status.FAILED, False),
        (Status.SENT, Status.SENT, False),
        (Status.ACCEPTED, Status.ACCEPTED, False),
        (Status.ACCEPTED, Status.UNKNOWN, True),
        (Status.UNKNOWN, Status.SENT, True),
        (Status.UNKNOWN, Status.FAILED, False),
        (Status.SENT, Status.UNKNOWN, False),
    ],
)
def test_sent_is_final_and_failure_only_replaces_accepted(current, outcome, replaces):
    assert may_become(current, outcome) is replaces

"""Notification ids, delivery ids, the default bot and how status follows the sender."""

import pytest

from chime_api.domain.notifications import (
    NoBotError,
    Status,
    delivery_id,
    may_become,
    new_notification_id,
    notification_id_of,
    resolve_bot,
)

pytestmark = pytest.mark.unit


def test_delivery_ids_round_trip():
    nid = new_notification_id()
    assert nid.startswith("ntf_")
    assert delivery_id(nid) == f"api:{nid}"
    assert notification_id_of(delivery_id(nid)) == nid


@pytest.mark.parametrize(
    "delivery", ["reminder:rem_1", "scheduler.confirmation:x", "api:", "api:ntf_", "api:other", ""]
)
def test_deliveries_the_api_did_not_ask_for_are_not_ours(delivery):
    assert notification_id_of(delivery) is None


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

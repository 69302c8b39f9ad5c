"""The receive path's one check of an update, and whose chat each kind belongs to."""

import pytest

from chime_ingest.domain.updates import NotAnUpdate, incoming, parties_of
from chime_ingest.entrypoints.interpreter import retry_delay

pytestmark = pytest.mark.unit

CHAT = {"id": -100, "type": "supergroup"}
USER = {"id": 5, "is_bot": False, "first_name": "A"}
MESSAGE = {"message_id": 1, "date": 1, "chat": CHAT, "from": USER, "text": "hi"}


@pytest.mark.parametrize(
    ("kind", "part", "parties"),
    [
        ("message", MESSAGE, (-100, 5)),
        ("edited_message", MESSAGE, (-100, 5)),
        ("channel_post", {**MESSAGE, "from": None}, (-100, None)),
        ("callback_query", {"id": "q", "from": USER, "message": MESSAGE}, (-100, 5)),
        ("callback_query", {"id": "q", "from": USER, "inline_message_id": "i"}, (None, 5)),
        ("my_chat_member", {"chat": CHAT, "from": USER, "date": 1}, (-100, 5)),
        ("message_reaction", {"chat": CHAT, "user": USER, "date": 1}, (-100, 5)),
        ("inline_query", {"id": "q", "from": USER, "query": ""}, (None, 5)),
        ("poll", {"id": "p", "question": "?"}, (None, None)),
        ("message", {**MESSAGE, "chat": {"id": 2**63}}, (None, 5)),  # beyond bigint: none
        ("message", {**MESSAGE, "chat": {"id": True}}, (None, 5)),
    ],
)
def test_the_chat_and_user_of_each_kind(kind, part, parties):
    assert parties_of({"update_id": 1, kind: part}) == parties


def test_a_usable_update_is_accepted_with_its_chat_and_user():
    update = incoming({"update_id": 9, "message": MESSAGE})
    assert (update.update_id, update.kind, update.chat_id, update.user_id) == (
        9,
        "message",
        -100,
        5,
    )
    assert update.reason is None


def test_content_chime_cannot_act_on_is_kept_with_the_reason():
    update = incoming({"update_id": 9, "message": {**MESSAGE, "message_id": 2**40}})
    assert update.reason is not None
    assert "message.message_id" in update.reason
    assert update.chat_id == -100  # still ordered with its chat, though never interpreted
    unknown = incoming({"update_id": 10, "future_kind": {"x": 1}})
    assert unknown.kind == "future_kind"
    assert unknown.reason is not None


def test_nul_is_replaced_and_what_is_not_an_update_is_refused():
    assert (
        incoming({"update_id": 1, "message": {**MESSAGE, "text": "a\x00b"}}).payload["message"][
            "text"
        ]
        == "a\ufffdb"
    )
    for body in ([], {"update_id": "1"}, {"update_id": -1}, {"update_id": 1, "x": 2**70}):
        with pytest.raises(NotAnUpdate):
            incoming(body)


def test_a_failed_update_waits_longer_each_time_up_to_a_minute():
    assert [retry_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]

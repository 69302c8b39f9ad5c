"""The fault suite's auditor judges the evidence the way the reliability guarantees say."""

from __future__ import annotations

from collections import Counter

import pytest

from chime_faults.checker import Evidence, Request, SenderRow, check, classify, violations

pytestmark = pytest.mark.unit

A, B = "fs00a0000001abcdef", "fs00a0000002abcdef"


def api(token: str, notification_id: str) -> Request:
    return Request(token, "api", 1, 10, True, None, notification_id)


def test_messages_are_told_apart_by_kind() -> None:
    assert classify(f"note {A}") == (A, "api")
    assert classify(f"⏰ Got it. I'll remind you at 10:00 (UTC): {A}") == (A, "confirmation")
    assert classify(f"⏰ {A}") == (A, "reminder")
    assert classify("noise") is None


def test_delivered_once_with_status_sent_passes() -> None:
    evidence = Evidence(delivered=Counter({(A, "api"): 1}), api={"n1": ("sent", None)})
    tally = check([api(A, "n1")], evidence, unanswered_calls=False)
    assert (tally.once, violations(tally, unanswered_calls=False)) == (1, [])


def test_twice_lost_and_misreported_are_violations() -> None:
    evidence = Evidence(
        delivered=Counter({(A, "api"): 2, (B, "api"): 0}),
        sender={(B, "api"): SenderRow("pending", None)},
        api={"n1": ("sent", None), "n2": ("accepted", None)},
    )
    tally = check([api(A, "n1"), api(B, "n2")], evidence, unanswered_calls=False)
    assert violations(tally, unanswered_calls=False) == ["1 lost", "1 sent twice"]


def test_a_failure_with_a_reason_is_an_end() -> None:
    evidence = Evidence(
        sender={(A, "api"): SenderRow("failed", "400 chat not found")},
        api={"n1": ("failed", "rejected")},
    )
    tally = check([api(A, "n1")], evidence, unanswered_calls=False)
    assert (tally.failed, violations(tally, unanswered_calls=False)) == (1, [])


def test_an_unknown_outcome_may_be_undelivered_only_where_telegram_left_calls_unanswered() -> None:
    evidence = Evidence(
        delivered=Counter({(B, "api"): 1}),
        sender={
            (A, "api"): SenderRow("unknown", "read timeout"),
            (B, "api"): SenderRow("unknown", "x"),
        },
        api={"n1": ("failed", "outcome unknown after crash"), "n2": ("unknown", "x")},
    )
    requests = [api(A, "n1"), api(B, "n2")]
    tally = check(requests, evidence, unanswered_calls=True)
    assert (tally.unknown_sent, tally.unknown_unsent) == (1, 1)
    assert violations(tally, unanswered_calls=True) == []
    tally = check(requests, evidence, unanswered_calls=False)
    assert violations(tally, unanswered_calls=False) == ["1 reported unknown though never sent"]


def test_a_reminder_is_two_messages_and_a_rejected_request_none() -> None:
    reminder = Request(A, "reminder", 1, 10, True)
    rejected = Request(B, "reminder", 1, 10, False, "webhook gave up: 502")
    evidence = Evidence(delivered=Counter({(A, "confirmation"): 1, (A, "reminder"): 1}))
    tally = check([reminder, rejected], evidence, unanswered_calls=False)
    assert (tally.messages, tally.once, tally.rejected) == (2, 2, 1)
    assert violations(tally, unanswered_calls=False) == []


def test_a_killed_sender_may_leave_its_fence_unknown_and_no_more():
    evidence = Evidence()
    requests = [api(A, "n1"), api(B, "n2")]
    for token, nid in ((A, "n1"), (B, "n2")):
        evidence.sender[(token, "api")] = SenderRow("unknown", "outcome unknown after crash")
        evidence.api[nid] = ("unknown", "outcome unknown after crash")
    tally = check(requests, evidence, unanswered_calls=False)
    assert violations(tally, unanswered_calls=False, fenced_calls=2) == []
    assert violations(tally, unanswered_calls=False, fenced_calls=1) == [
        "2 reported unknown though never sent (the dead sender's call fence allows 1)"
    ]

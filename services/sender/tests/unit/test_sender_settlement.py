"""How each answer settles its delivery: the typed verdict, the next state, the chat's pace
and the outcome event."""

from datetime import UTC, datetime, timedelta

import pytest

from chime_contracts.events import MessageSent, SendFailed
from chime_contracts.events.shared import SendSource
from chime_kit.telegram import Answer
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.limits import Limits
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import POSTPONED, Live, Policy, Settled, settle

pytestmark = pytest.mark.unit

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
POLICY = Policy(Limits(), RetryPolicy(max_attempts=3, base=1.0, cap=1.0))
SOURCE = SendSource(kind="reminder", id="r1")


def claim(chat_id: int = 5, failures: int = 0) -> Claim:
    d = Delivery("d", 1, chat_id, "t", None, None, "c", None, source=SOURCE)
    return Claim(d, attempt=failures + 1, failures=failures, parts_sent=0,
                 first_message_id=None, chat_blocked=False, version=1)  # fmt: skip


LIVE = Live(parts_total=1, parts_sent=0, first_message_id=None, recent=())


def error(code: int, description: str = "", **more: object) -> Answer:
    return Answer(ok=False, error_code=code, description=description, **more)  # type: ignore[arg-type]


def test_a_claim_no_longer_held_is_stale_and_changes_nothing() -> None:
    s = settle(POLICY, claim(), Answer(ok=True, result={"message_id": 1}), None, NOW)
    assert (s.settled, s.event, s.pace) == (Settled.STALE, None, None)


def test_a_call_not_made_waits_a_moment_without_counting() -> None:
    s = settle(POLICY, claim(), POSTPONED, LIVE, NOW)
    assert (s.settled, s.state, s.failed, s.outcome) == (Settled.POSTPONED, "pending", False,
                                                         "postponed")  # fmt: skip
    assert s.next_attempt_at == NOW + timedelta(seconds=0.5)


def test_sent_carries_the_first_parts_id_and_the_source() -> None:
    s = settle(POLICY, claim(), Answer(ok=True, result={"message_id": 9}), LIVE, NOW)
    assert s.settled is Settled.SENT
    assert s.settled.final
    assert isinstance(s.event, MessageSent)
    assert (s.event.telegram_message_id, s.event.source) == (9, SOURCE)
    assert s.pace is not None
    assert s.pace.next_send_at == NOW + timedelta(seconds=1)
    two = Live(parts_total=2, parts_sent=0, first_message_id=None, recent=())
    part = settle(POLICY, claim(), Answer(ok=True, result={"message_id": 9}), two, NOW)
    assert (part.settled, part.event, part.part_sent) == (Settled.PART_SENT, None, True)


def test_a_429_waits_its_retry_after_and_holds_the_chat_as_long() -> None:
    s = settle(POLICY, claim(), error(429, "Too Many Requests", retry_after=7.0), LIVE, NOW)
    assert (s.settled, s.failed) == (Settled.RATE_LIMITED, False)
    assert s.next_attempt_at == NOW + timedelta(seconds=7)
    assert s.pace is not None
    assert s.pace.next_send_at == NOW + timedelta(seconds=7)


def test_a_migrated_group_is_sent_again_to_its_new_id_at_once() -> None:
    answer = error(400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-1009)
    s = settle(POLICY, claim(-5), answer, LIVE, NOW)
    assert (s.settled, s.state, s.migrate_to, s.next_attempt_at) == (
        Settled.MIGRATED, "pending", -1009, NOW,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "settled", "state", "unknown"),
    [
        (error(403, "Forbidden: bot was blocked by the user"), Settled.BLOCKED, "failed", False),
        (error(400, "Bad Request: chat not found"), Settled.FAILED, "failed", False),
        (Answer(ok=False, transport_error="timeout"), Settled.UNKNOWN, "unknown", True),
        (error(504, "Gateway Timeout"), Settled.UNKNOWN, "unknown", True),
    ],
)
def test_final_failures_record_why(
    answer: Answer, settled: Settled, state: str, unknown: bool
) -> None:
    s = settle(POLICY, claim(), answer, LIVE, NOW)
    assert (s.settled, s.state) == (settled, state)
    assert isinstance(s.event, SendFailed)
    assert (s.event.permanent, s.event.outcome_unknown, s.event.source) == (True, unknown, SOURCE)


def test_transient_failures_back_off_then_give_up() -> None:
    retry = settle(POLICY, claim(failures=0), error(502), LIVE, NOW, rng=lambda: 0.5)
    assert (retry.settled, retry.failed) == (Settled.RETRY, True)
    assert retry.next_attempt_at == NOW + timedelta(seconds=0.5)
    assert retry.pace is not None
    assert retry.pace.next_send_at >= retry.next_attempt_at
    dead = settle(POLICY, claim(failures=2), error(502), LIVE, NOW)
    assert dead.settled is Settled.DEAD
    assert isinstance(dead.event, SendFailed)
    assert dead.event.permanent is False

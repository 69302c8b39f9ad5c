"""What the sender does with each Telegram answer, and how long it waits to retry."""

import pytest

from chime_kit.telegram import Answer as CallResult
from chime_sender.domain.outcomes import (
    RetryPolicy,
    Verdict,
    classify,
    counts_for_breaker,
    retry_after_seconds,
)

pytestmark = pytest.mark.unit


def error(code: int, description: str, retry_after: float | None = None) -> CallResult:
    return CallResult(ok=False, error_code=code, description=description, retry_after=retry_after)


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        (CallResult(ok=True, result={"message_id": 7}), Verdict.SENT),
        (error(429, "Too Many Requests: retry after 3", 3), Verdict.RATE_LIMITED),
        (error(403, "Forbidden: bot was blocked by the user"), Verdict.BLOCKED),
        (error(403, "Forbidden: user is deactivated"), Verdict.BLOCKED),
        (error(403, "Forbidden: bot was kicked from the group chat"), Verdict.BLOCKED),
        (error(403, "Forbidden: bot is not a member of the channel chat"), Verdict.BLOCKED),
        (error(403, "Forbidden: bot can't send messages to bots"), Verdict.PERMANENT),
        (error(400, "Bad Request: chat not found"), Verdict.PERMANENT),
        (error(400, "Bad Request: can't parse entities"), Verdict.PERMANENT),
        (error(401, "Unauthorized"), Verdict.PERMANENT),
        (error(500, "Internal Server Error"), Verdict.TRANSIENT),
        (error(502, "Bad Gateway"), Verdict.TRANSIENT),
        # A gateway that timed out may have passed the call on: unknown, like our timeout.
        (error(504, "Gateway Timeout"), Verdict.UNSURE),
        (
            error(400, "Bad Request: group chat was upgraded to a supergroup chat"),
            Verdict.PERMANENT,
        ),
        (CallResult(ok=False, transport_error="timeout"), Verdict.UNSURE),
        (CallResult(ok=False, transport_error="no_answer"), Verdict.UNSURE),
        (CallResult(ok=False, transport_error="connection"), Verdict.TRANSIENT),
    ],
)
def test_classification(result: CallResult, verdict: Verdict) -> None:
    assert classify(result) is verdict


@pytest.mark.parametrize("error", ["timeout", "no_answer"])
def test_unsure_outcomes_are_retried_only_when_asked(error: str) -> None:
    result = CallResult(ok=False, transport_error=error)
    assert classify(result, resend_when_unsure=True) is Verdict.TRANSIENT


def test_only_transient_failures_trip_the_breaker() -> None:
    assert counts_for_breaker(Verdict.TRANSIENT) is True
    assert counts_for_breaker(Verdict.UNSURE) is True
    assert counts_for_breaker(Verdict.SENT) is False
    assert counts_for_breaker(Verdict.BLOCKED) is False
    assert counts_for_breaker(Verdict.PERMANENT) is None
    assert counts_for_breaker(Verdict.RATE_LIMITED) is None


def test_retry_after_is_honoured() -> None:
    assert retry_after_seconds(error(429, "x", 7)) == 7
    assert retry_after_seconds(error(429, "x")) == 1.0


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=5, base=0.5, cap=60.0)
    assert [policy.backoff(n, rng=lambda: 1.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.backoff(3, rng=lambda: 0.0) == 0.0
    assert policy.backoff(3, rng=lambda: 0.5) == 1.0
    assert policy.backoff(20, rng=lambda: 1.0) == 60.0
    assert all(0 <= policy.backoff(4) <= 4.0 for _ in range(100))


def test_it_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert not policy.gives_up(2)
    assert policy.gives_up(3)


def test_a_group_upgraded_to_a_supergroup_moves_the_chat() -> None:
    answer = CallResult(
        ok=False,
        error_code=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1001234,
    )
    assert classify(answer) is Verdict.MIGRATED
    assert counts_for_breaker(Verdict.MIGRATED) is None


def test_a_gateway_timeout_is_resent_only_when_asked() -> None:
    assert classify(error(504, "Gateway Timeout"), resend_when_unsure=True) is Verdict.TRANSIENT

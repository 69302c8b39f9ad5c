import pytest

from chime_emulator.limits import (
    ChatClass,
    LimitKind,
    RateLimiter,
    RateLimits,
    retry_after_seconds,
)

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def limiter(
    clock: Clock, per_second: int = 30, interval: float = 1.0, per_minute: int = 20
) -> RateLimiter:
    return RateLimiter(RateLimits(per_second, interval, per_minute), clock)


@pytest.mark.parametrize(
    ("wait", "expected"),
    [(0.0, 1), (0.001, 1), (0.5, 1), (1.0, 1), (1.0000000001, 1), (1.01, 2), (59.2, 60)],
)
def test_retry_after_is_whole_seconds_at_least_one(wait: float, expected: int) -> None:
    assert retry_after_seconds(wait) == expected


def test_token_limit_allows_rate_then_rejects_within_the_second() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=30, interval=0)
    for chat_id in range(30):
        assert rate.try_send("t", chat_id, ChatClass.PRIVATE) is None
    rejection = rate.try_send("t", 99, ChatClass.PRIVATE)
    assert rejection is not None
    assert rejection.breached == (LimitKind.TOKEN,)
    assert rejection.retry_after == 1


def test_token_limit_frees_a_slot_exactly_one_second_after_the_oldest_send() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=2, interval=0)
    assert rate.try_send("t", 1, ChatClass.OTHER) is None
    clock.now += 0.4
    assert rate.try_send("t", 2, ChatClass.OTHER) is None
    clock.now += 0.5
    assert rate.try_send("t", 3, ChatClass.OTHER) is not None
    clock.now += 0.1  # 1.0 s after the first send
    assert rate.try_send("t", 3, ChatClass.OTHER) is None
    assert rate.try_send("t", 4, ChatClass.OTHER) is not None


def test_token_limit_is_per_token() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=1, interval=0)
    assert rate.try_send("a", 1, ChatClass.OTHER) is None
    assert rate.try_send("b", 1, ChatClass.OTHER) is None
    assert rate.try_send("a", 2, ChatClass.OTHER) is not None


def test_rejected_sends_do_not_count() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=1, interval=0)
    assert rate.try_send("t", 1, ChatClass.OTHER) is None
    for _ in range(10):
        clock.now += 0.09
        assert rate.try_send("t", 1, ChatClass.OTHER) is not None
    clock.now += 0.1
    assert rate.try_send("t", 1, ChatClass.OTHER) is None


def test_private_chat_interval() -> None:
    clock = Clock()
    rate = limiter(clock, interval=1.0)
    assert rate.try_send("t", 7, ChatClass.PRIVATE) is None
    clock.now += 0.3
    rejection = rate.try_send("t", 7, ChatClass.PRIVATE)
    assert rejection is not None
    assert rejection.breached == (LimitKind.CHAT,)
    assert rejection.retry_after == 1
    assert rate.try_send("t", 8, ChatClass.PRIVATE) is None  # another chat is fine
    assert rate.try_send("u", 7, ChatClass.PRIVATE) is None  # another bot is fine
    clock.now += 0.7
    assert rate.try_send("t", 7, ChatClass.PRIVATE) is None


def test_long_private_interval_reports_the_remaining_seconds() -> None:
    clock = Clock()
    rate = limiter(clock, interval=5.0)
    assert rate.try_send("t", 7, ChatClass.PRIVATE) is None
    clock.now += 1.5
    rejection = rate.try_send("t", 7, ChatClass.PRIVATE)
    assert rejection is not None
    assert rejection.retry_after == 4


def test_private_interval_does_not_apply_to_groups() -> None:
    clock = Clock()
    rate = limiter(clock, interval=1.0)
    assert rate.try_send("t", -5, ChatClass.GROUP) is None
    assert rate.try_send("t", -5, ChatClass.GROUP) is None


def test_group_limit_per_minute_and_retry_after() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=100, per_minute=20)
    for _ in range(20):
        assert rate.try_send("t", -5, ChatClass.GROUP) is None
        clock.now += 1.0
    # 20 sends at t=0..19; now t=20: the oldest leaves the window at t=60.
    rejection = rate.try_send("t", -5, ChatClass.GROUP)
    assert rejection is not None
    assert rejection.breached == (LimitKind.GROUP,)
    assert rejection.retry_after == 40
    assert rate.try_send("t", -6, ChatClass.GROUP) is None  # another group is fine
    clock.now = 500.0 + 60.0
    assert rate.try_send("t", -5, ChatClass.GROUP) is None
    assert rate.try_send("t", -5, ChatClass.GROUP) is not None


def test_group_limit_does_not_apply_to_private_or_channels() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=1000, interval=0, per_minute=1)
    for _ in range(5):
        assert rate.try_send("t", 1, ChatClass.PRIVATE) is None
        assert rate.try_send("t", -100, ChatClass.OTHER) is None


def test_several_breaches_report_the_longest_wait() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=1, interval=3.0)
    assert rate.try_send("t", 7, ChatClass.PRIVATE) is None
    clock.now += 0.5
    rejection = rate.try_send("t", 7, ChatClass.PRIVATE)
    assert rejection is not None
    assert set(rejection.breached) == {LimitKind.TOKEN, LimitKind.CHAT}
    assert rejection.retry_after == 3


def test_zero_disables_limits() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=0, interval=0, per_minute=0)
    for _ in range(100):
        assert rate.try_send("t", 7, ChatClass.PRIVATE) is None
        assert rate.try_send("t", -7, ChatClass.GROUP) is None


def test_reset_forgets_history() -> None:
    clock = Clock()
    rate = limiter(clock, per_second=1)
    assert rate.try_send("t", 7, ChatClass.PRIVATE) is None
    rate.reset()
    assert rate.try_send("t", 7, ChatClass.PRIVATE) is None


def test_paid_sends_use_the_paid_rate_and_plain_sends_still_the_plain_one() -> None:
    clock = Clock()
    rate = RateLimiter(RateLimits(2, 0, 20, paid_messages_per_second=4), clock)
    assert rate.try_send("t", 1, ChatClass.PRIVATE) is None
    assert rate.try_send("t", 2, ChatClass.PRIVATE) is None
    assert rate.try_send("t", 3, ChatClass.PRIVATE) is not None
    assert rate.try_send("t", 3, ChatClass.PRIVATE, paid=True) is None
    assert rate.try_send("t", 4, ChatClass.PRIVATE, paid=True) is None
    assert rate.try_send("t", 5, ChatClass.PRIVATE, paid=True) is not None
    assert rate.try_send("t", 5, ChatClass.PRIVATE) is not None

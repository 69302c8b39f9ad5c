"""Telegram's limits as the sender keeps them: token window, chat interval, group window."""

from datetime import UTC, datetime, timedelta

import pytest

from chime_sender.domain.limits import ChatPace, Limits, TokenLimiter, after_send, is_group, paused

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


def test_a_token_sends_at_most_its_rate_in_any_window() -> None:
    clock = Clock()
    limiter = TokenLimiter(Limits(token_rate=30, margin=0.0), clock)
    assert [limiter.take(1) for _ in range(30)] == [0.0] * 30
    assert limiter.take(1) == pytest.approx(1.0)
    assert limiter.available(1) == 0
    clock.now += 0.999
    assert limiter.take(1) == pytest.approx(0.001)
    clock.now += 0.001
    assert limiter.take(1) == 0.0


def test_the_window_slides_rather_than_resets() -> None:
    clock = Clock()
    limiter = TokenLimiter(Limits(token_rate=2, margin=0.0), clock)
    limiter.take(1)
    clock.now += 0.6
    limiter.take(1)
    clock.now += 0.5  # 1.1 s after the first, 0.5 s after the second
    assert limiter.take(1) == 0.0
    assert limiter.take(1) == pytest.approx(0.5)  # till the send at 0.6 leaves


def test_the_margin_widens_the_window_for_network_jitter() -> None:
    clock = Clock()
    limiter = TokenLimiter(Limits(token_rate=1, margin=0.05), clock)
    limiter.take(1)
    clock.now += 1.0
    assert limiter.take(1) == pytest.approx(0.05)


def test_tokens_are_independent() -> None:
    limiter = TokenLimiter(Limits(token_rate=1), Clock())
    assert limiter.take(1) == 0.0
    assert limiter.take(2) == 0.0
    assert limiter.take(1) > 0
    assert limiter.available(3) == 1


def test_a_refused_send_is_not_counted() -> None:
    clock = Clock()
    limiter = TokenLimiter(Limits(token_rate=1, margin=0.0), clock)
    limiter.take(1)
    for _ in range(5):
        assert limiter.take(1) > 0
    clock.now += 1.0
    assert limiter.take(1) == 0.0


def test_a_429_pauses_the_token_for_retry_after() -> None:
    clock = Clock()
    limiter = TokenLimiter(Limits(token_rate=30), clock)
    limiter.pause(1, 3.0)
    assert limiter.take(1) == pytest.approx(3.0)
    assert limiter.available(1) == 0
    limiter.pause(1, 1.0)  # a shorter pause never shortens a longer one
    clock.now += 2.0
    assert limiter.take(1) == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.take(1) == 0.0
    assert limiter.take(2) == 0.0


def test_chat_kinds_by_id_sign() -> None:
    assert not is_group(42)
    assert is_group(-42)
    assert is_group(-1001234567890)


def test_a_private_chat_waits_the_interval_after_each_send() -> None:
    pace = after_send(Limits(chat_interval=1.0), 42, (), T0)
    assert pace == ChatPace(T0 + seconds(1.0))


def test_private_chats_are_paced_independently() -> None:
    limits = Limits()
    a = after_send(limits, 1, (), T0)
    b = after_send(limits, 2, (), T0 + seconds(0.1))
    assert a.next_send_at == T0 + seconds(1)
    assert b.next_send_at == T0 + seconds(1.1)


def test_a_group_takes_a_burst_then_waits_for_the_window() -> None:
    limits = Limits(group_rate=3, group_window=60.0)
    recent: tuple[datetime, ...] = ()
    nexts = []
    for i in range(3):
        pace = after_send(limits, -5, recent, T0 + seconds(i))
        recent = pace.recent
        nexts.append(pace.next_send_at)
    assert nexts[:2] == [T0, T0 + seconds(1)]
    assert nexts[2] == T0 + seconds(60)  # the 4th send must wait till the 1st leaves
    pace = after_send(limits, -5, recent, T0 + seconds(60))
    assert pace.next_send_at == T0 + seconds(61)
    assert len(pace.recent) == 3


def test_a_group_forgets_sends_older_than_the_window() -> None:
    limits = Limits(group_rate=2, group_window=60.0)
    pace = after_send(limits, -5, (T0,), T0 + seconds(61))
    assert pace.recent == (T0 + seconds(61),)
    assert pace.next_send_at == T0 + seconds(61)


def test_paused_never_brings_a_chat_forward() -> None:
    pace = ChatPace(T0 + seconds(5), (T0,))
    assert paused(pace, T0 + seconds(3)) == pace
    assert paused(pace, T0 + seconds(9)) == ChatPace(T0 + seconds(9), (T0,))

"""Telegram's limits as the sender keeps them: token send slots, chat interval, group window."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from chime_sender.domain.circuit import Breakers
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.limits import (
    ChatPace,
    Grant,
    Limits,
    after_send,
    clock_skew,
    free_lateness,
    grant_slots,
    is_group,
    missed_slot,
    paused,
    paused_slot,
    slot_interval,
)
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import Policy
from chime_sender.handlers import Local, Sending
from chime_sender.handlers.call import wait_for_slot

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


TENTH = seconds(0.1)
HORIZON = seconds(0.25)


def test_the_slot_interval_spreads_the_rate_over_window_and_margin() -> None:
    assert slot_interval(Limits(token_rate=30, margin=0.0)) == timedelta(microseconds=33334)
    assert slot_interval(Limits(token_rate=30, margin=0.03)) == timedelta(microseconds=34334)
    assert slot_interval(Limits(token_rate=20, margin=0.0)) == timedelta(microseconds=50000)
    for rate in (1, 3, 7, 29, 30, 31, 1000):
        # Rounded up: `rate` intervals never fit inside the window.
        assert slot_interval(Limits(token_rate=rate, margin=0.0)) * rate >= seconds(1.0)


def test_an_idle_bot_gets_slots_from_now_spaced_by_the_interval() -> None:
    grant = grant_slots(T0 - seconds(60), T0, TENTH, 3, HORIZON)
    starts = (T0, T0 + TENTH, T0 + 2 * TENTH)
    # Strict by default: each call must start at its slot.
    assert grant == Grant(starts, T0 + 3 * TENTH, deadlines=starts)


def test_an_idle_bot_does_not_save_up_a_burst() -> None:
    grant = grant_slots(T0 - seconds(3600), T0, TENTH, 100, seconds(10))
    assert grant.starts[0] == T0
    assert all(b - a == TENTH for a, b in itertools.pairwise(grant.starts))


def test_no_slot_starts_before_next_slot_at() -> None:
    grant = grant_slots(T0 + seconds(0.05), T0, TENTH, 2, HORIZON)
    assert grant.starts == (T0 + seconds(0.05), T0 + seconds(0.15))
    assert grant.next_slot_at == T0 + seconds(0.25)


def test_the_horizon_cuts_what_is_handed_out() -> None:
    grant = grant_slots(T0, T0, TENTH, 100, HORIZON)
    assert grant.starts == (T0, T0 + TENTH, T0 + 2 * TENTH)
    assert grant.next_slot_at == T0 + 3 * TENTH
    # A slot starting exactly at the horizon is still in.
    assert len(grant_slots(T0, T0, TENTH, 100, 2 * TENTH).starts) == 3
    assert grant_slots(T0, T0, TENTH, 100, timedelta(0)).starts == (T0,)


def test_nothing_is_handed_out_past_the_horizon_and_the_bot_is_unchanged() -> None:
    later = T0 + seconds(0.3)
    assert grant_slots(later, T0, TENTH, 5, HORIZON) == Grant((), later)
    assert grant_slots(T0 - seconds(1), T0, TENTH, 0, HORIZON) == Grant((), T0 - seconds(1))
    recent = (T0, T0 + TENTH)
    kept = grant_slots(later, T0, TENTH, 5, HORIZON, free_lateness(Limits()), recent)
    assert kept == Grant((), later, (), recent)


def test_a_smaller_want_gets_a_prefix_of_the_same_slots() -> None:
    full = grant_slots(T0, T0, TENTH, 10, HORIZON)
    part = grant_slots(T0, T0, TENTH, 2, HORIZON)
    assert part.starts == full.starts[:2]
    assert part.next_slot_at == T0 + 2 * TENTH


def test_consecutive_claims_continue_where_the_last_stopped() -> None:
    first = grant_slots(T0, T0, TENTH, 100, HORIZON)
    second = grant_slots(first.next_slot_at, T0 + seconds(0.01), TENTH, 100, HORIZON)
    assert second.starts == ()
    third = grant_slots(first.next_slot_at, T0 + seconds(0.06), TENTH, 100, HORIZON)
    assert third.starts == (T0 + 3 * TENTH,)


def test_no_window_ever_holds_more_than_the_rate() -> None:
    """Replicas claiming at arbitrary moments, all through the one next_slot_at."""
    limits = Limits(token_rate=30, margin=0.0)
    interval = slot_interval(limits)
    next_at = T0 - seconds(5)
    starts: list[datetime] = []
    now = T0
    for step in range(400):
        grant = grant_slots(next_at, now, interval, 1 + step % 7, HORIZON)
        next_at = grant.next_slot_at
        starts += grant.starts
        now += seconds(0.013 * (1 + step % 5))
    assert len(starts) > 100
    assert starts == sorted(starts)
    window = seconds(limits.token_window)
    assert all(b - a >= window for a, b in zip(starts, starts[limits.token_rate :], strict=False))


def test_a_call_later_than_half_the_margin_misses_its_slot() -> None:
    limits = Limits(margin=0.03)
    assert not missed_slot(limits, T0, T0 - seconds(0.2))  # early never happens, but is fine
    assert not missed_slot(limits, T0, T0)
    assert not missed_slot(limits, T0, T0 + seconds(0.015))
    assert missed_slot(limits, T0, T0 + seconds(0.016))
    assert missed_slot(Limits(margin=0.0), T0, T0 + timedelta(microseconds=1))


def test_a_429_pushes_the_next_slot_past_retry_after() -> None:
    assert paused_slot(T0, T0, 3.0) == T0 + seconds(3)
    assert paused_slot(T0 - seconds(9), T0, 1.0) == T0 + seconds(1)
    # A shorter pause never brings a later slot forward.
    assert paused_slot(T0 + seconds(5), T0, 1.0) == T0 + seconds(5)
    grant = grant_slots(paused_slot(T0, T0, 2.0), T0 + seconds(0.5), TENTH, 3, HORIZON)
    assert grant.starts == ()
    grant = grant_slots(paused_slot(T0, T0, 2.0), T0 + seconds(1.9), TENTH, 3, HORIZON)
    assert grant.starts == (T0 + seconds(2), T0 + seconds(2.1))


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


async def test_a_call_woken_early_still_waits_for_its_slot() -> None:
    """uvloop can end a sleep early (it times it from a cached clock): a call made then opens
    its slot early and, with one made late 30 slots before, packs 31 sends into a second."""
    now = [datetime(2024, 1, 1, tzinfo=UTC)]
    slot = now[0] + timedelta(milliseconds=40)

    async def early_sleep(seconds: float) -> None:
        wanted = timedelta(seconds=seconds)
        early = timedelta(milliseconds=20)
        now[0] += wanted - early if wanted > early else wanted

    sending = Sending(
        api=None,  # type: ignore[arg-type]
        tokens={},
        policy=Policy(Limits(), RetryPolicy()),
        local=Local(breakers=Breakers()),
    )
    delivery = Delivery("d", 1, 2, "t", None, None, "c", None)
    claim = Claim(delivery, 1, 0, 0, None, False, slot=slot, send_at=slot)
    assert await wait_for_slot(sending, claim, clock=lambda: now[0], sleep=early_sleep) is None
    assert now[0] >= slot


def test_clock_skew_is_taken_at_the_middle_of_the_round_trip() -> None:
    asked = datetime(2024, 1, 1, tzinfo=UTC)
    db_now = asked + timedelta(seconds=10, milliseconds=5)
    answered = asked + timedelta(milliseconds=10)
    # Not db_now - answered: the time to read the answer is not skew.
    assert clock_skew(asked, db_now, answered) == timedelta(seconds=10)

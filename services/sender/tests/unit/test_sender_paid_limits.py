"""Paid broadcasts' lane: up to `paid_rate` a second with the flag, never breaking the free
limit that Telegram applies to the sends without it (paid ones counted)."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_sender.domain.limits import (
    BotPace,
    Limits,
    grant_lanes,
    paid_slot_interval,
    paused_pace,
    slot_interval,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HORIZON = timedelta(seconds=0.25)
PAID = Limits(token_rate=30, margin=0.0, paid_rate=1000)


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


def breaches(sends: list[tuple[datetime, bool]], limits: Limits) -> list[datetime]:
    """Sends Telegram would refuse: with the flag, `paid_rate` or more others in the second
    before it; without, `token_rate` or more (paid ones included)."""
    sends = sorted(sends)
    window = seconds(limits.token_window)
    refused = []
    for i, (at, paid) in enumerate(sends):
        before = sum(1 for other, _ in sends[:i] if at - other < window)
        if before >= (limits.paid_rate if paid else limits.token_rate):
            refused.append(at)
    return refused


def test_paid_slots_leave_room_for_the_free_sends_in_the_window() -> None:
    assert paid_slot_interval(PAID) == timedelta(microseconds=1031)  # 1 s / 970, rounded up
    assert paid_slot_interval(Limits(token_rate=30, margin=0.03, paid_rate=1000)) == (
        timedelta(microseconds=1062)
    )
    with pytest.raises(ValueError, match="not enabled"):
        paid_slot_interval(Limits())


def test_a_bot_without_paid_broadcasting_grants_no_paid_slots() -> None:
    grant = grant_lanes(BotPace(T0), T0, Limits(margin=0.0), 0, 50, HORIZON)
    assert grant.paid == ()
    assert grant.pace == BotPace(T0)


def test_paid_slots_come_at_the_paid_rate_after_the_free_ones() -> None:
    grant = grant_lanes(BotPace(T0), T0, PAID, 2, 100, HORIZON)
    assert grant.free == (T0, T0 + slot_interval(PAID))
    assert grant.paid[0] == T0 + 2 * slot_interval(PAID)
    assert len(grant.paid) == 100  # 100 ms of paid slots fit the 250 ms horizon
    assert grant.paid[1] - grant.paid[0] == paid_slot_interval(PAID)
    assert grant.pace.paid_clear_at == grant.paid[-1] + seconds(1)


def test_free_sends_wait_a_window_after_the_last_paid_one() -> None:
    paid = grant_lanes(BotPace(T0), T0, PAID, 0, 10, HORIZON)
    later = grant_lanes(paid.pace, T0 + seconds(0.5), PAID, 5, 0, HORIZON)
    assert later.free == ()
    cleared = grant_lanes(paid.pace, paid.paid[-1] + seconds(1), PAID, 5, 0, HORIZON)
    assert cleared.free[0] == paid.paid[-1] + seconds(1)


def test_a_429_pauses_both_lanes() -> None:
    pace = paused_pace(BotPace(T0, T0, None), T0, 3.0)
    grant = grant_lanes(pace, T0 + seconds(1), PAID, 0, 10, HORIZON)
    assert grant.paid == ()
    grant = grant_lanes(pace, T0 + seconds(3), PAID, 0, 10, HORIZON)
    assert grant.paid[0] == T0 + seconds(3)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=400),  # ms since the last claim
            st.booleans(),  # the claim's lane: paid or free
            st.integers(min_value=0, max_value=400),  # how many it wants
        ),
        min_size=1,
        max_size=60,
    )
)
def test_no_interleaving_of_claims_breaks_either_limit(
    claims: list[tuple[int, bool, int]],
) -> None:
    """Replicas claiming at arbitrary moments, one lane per claim, through the one pace."""
    pace = BotPace(T0 - seconds(5))
    now = T0
    sends: list[tuple[datetime, bool]] = []
    for gap_ms, paid, wanted in claims:
        now += timedelta(milliseconds=gap_ms)
        free, paid_n = (0, wanted) if paid else (wanted, 0)
        grant = grant_lanes(pace, now, PAID, free, paid_n, HORIZON)
        pace = grant.pace
        sends += [(at, False) for at in grant.free] + [(at, True) for at in grant.paid]
        assert all(at >= now for at, _ in sends[len(sends) - len(grant.free + grant.paid) :])
    assert breaches(sends, PAID) == []

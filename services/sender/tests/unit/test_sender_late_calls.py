"""Calls made late for their send slots: each slot's grant says how late its call may still
start, from the headroom its bot has, and no lateness within that ever lets Telegram see more
than the token's rate, a private chat's interval or a group's window."""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_sender.domain.circuit import Breakers
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.limits import (
    BotPace,
    ChatPace,
    Limits,
    after_send,
    free_lateness,
    grant_lanes,
    is_group,
    missed_slot,
    slot_interval,
)
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import POSTPONE_SECONDS, SLOT_MISSED, Policy
from chime_sender.handlers import Local, Sending
from chime_sender.handlers.call import wait_for_slot

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HORIZON = timedelta(seconds=0.25)
LEAD = timedelta(seconds=0.05)
# Small group limits, so a short run reaches them; the token's and a private chat's as
# Telegram's.
LIMITS = Limits(group_rate=3, group_window=2.0)


def ms(n: float) -> timedelta:
    return timedelta(milliseconds=n)


def test_a_bot_far_below_its_rate_lets_calls_start_up_to_late_max() -> None:
    grant = grant_lanes(BotPace(T0 - timedelta(hours=1)), T0, LIMITS, 3, 0, HORIZON)
    assert [d - s for s, d in zip(grant.free, grant.free_deadlines, strict=True)] == [ms(500)] * 3
    assert grant.pace.deadlines == grant.free_deadlines


def test_a_bot_at_its_rate_keeps_half_the_margin_and_its_rate() -> None:
    """From idle, a full backlog: the first `token_rate` slots may be late by `late_max`, so
    the next waits out that one window; from then on slots come at the full rate again, each
    allowed half the margin."""
    pace = BotPace(T0 - timedelta(hours=1))
    now = T0
    starts: list[datetime] = []
    allowed: list[timedelta] = []
    while now < T0 + timedelta(seconds=5):
        grant = grant_lanes(pace, now, LIMITS, 100, 0, HORIZON)
        pace = grant.pace
        starts += grant.free
        allowed += [d - s for s, d in zip(grant.free, grant.free_deadlines, strict=True)]
        now += ms(50)
    rate = LIMITS.token_rate
    assert allowed[:rate] == [ms(500)] * rate
    assert set(allowed[rate:]) == {ms(15)}
    assert starts[rate] - starts[rate - 1] > ms(480)  # the one window paid for the burst
    later = starts[rate:]
    assert all(b - a == slot_interval(LIMITS) for a, b in itertools.pairwise(later))


def test_a_bot_with_paid_broadcasting_keeps_half_the_margin() -> None:
    paid = Limits(paid_rate=1000)
    grant = grant_lanes(BotPace(T0 - timedelta(hours=1)), T0, paid, 3, 0, HORIZON)
    assert {d - s for s, d in zip(grant.free, grant.free_deadlines, strict=True)} == {ms(15)}
    assert free_lateness(paid).most == ms(15)


def test_a_late_call_is_missed_only_past_what_its_grant_allows() -> None:
    assert not missed_slot(LIMITS, T0, T0 + ms(400), ms(500))
    assert not missed_slot(LIMITS, T0, T0 + ms(500), ms(500))
    assert missed_slot(LIMITS, T0, T0 + ms(501), ms(500))
    assert missed_slot(LIMITS, T0, T0 + ms(16))  # no grant: half the margin


async def test_wait_for_slot_calls_late_within_the_grant_and_refuses_past_it() -> None:
    sending = Sending(
        api=None,  # type: ignore[arg-type]
        tokens={},
        policy=Policy(LIMITS, RetryPolicy()),
        local=Local(breakers=Breakers()),
    )
    delivery = Delivery("d", 1, 2, "t", None, None, "c", None)

    async def no_sleep(_: float) -> None:
        return None

    def claim(late: timedelta) -> Claim:
        return Claim(delivery, 1, 0, 0, None, False, slot=T0, send_at=T0, late=late)

    woke = T0 + ms(300)
    assert await wait_for_slot(sending, claim(ms(500)), clock=lambda: woke, sleep=no_sleep) is None
    refused = await wait_for_slot(sending, claim(ms(15)), clock=lambda: woke, sleep=no_sleep)
    assert refused is SLOT_MISSED


@dataclass
class Chat:
    pace: ChatPace = field(default_factory=lambda: ChatPace(T0 - timedelta(hours=1)))
    busy_until: datetime | None = None  # held by a call (or a missed slot) until settled
    settle: ChatPace | None = None  # its pace once that call is settled


CHATS = [1, 2, 3, 4, 5, 6, -1, -2]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=300),  # ms until the next claim (any replica)
            st.lists(st.sampled_from(CHATS), min_size=0, max_size=12),  # what is ready
        ),
        min_size=1,
        max_size=80,
    ),
    st.lists(st.integers(min_value=0, max_value=900), min_size=1, max_size=50),  # late, ms
    st.lists(st.integers(min_value=0, max_value=15), min_size=1, max_size=7),  # way there, ms
    st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=7),  # answer, ms
)
def test_no_lateness_lets_telegram_see_a_limit_broken(
    claims: list[tuple[int, list[int]]],
    lateness: list[int],
    network: list[int],
    answers: list[int],
) -> None:
    """Claims at arbitrary moments through the one stored pace, each call started as late as
    the pattern says (made only within its grant; a missed one puts its chat back for half a
    second), reaching Telegram within half the margin and answered any time later; the chat
    is paced from the answer, as settling does."""
    pace = BotPace(T0 - timedelta(seconds=5))
    chats = {chat_id: Chat() for chat_id in CHATS}
    seen: list[datetime] = []  # the token's calls as Telegram received them
    seen_by_chat: dict[int, list[datetime]] = {chat_id: [] for chat_id in CHATS}
    now = T0
    calls = 0
    for gap, ready in claims:
        now += ms(gap)
        for chat in chats.values():  # settle what was answered by now
            if chat.busy_until is not None and chat.busy_until <= now and chat.settle:
                chat.pace, chat.busy_until, chat.settle = chat.settle, None, None
        free = [
            c
            for c in dict.fromkeys(ready)
            if chats[c].busy_until is None and chats[c].pace.next_send_at <= now
        ]
        grant = grant_lanes(pace, now + LEAD, LIMITS, len(free), 0, HORIZON)
        pace = grant.pace
        for chat_id, start, deadline in zip(free, grant.free, grant.free_deadlines, strict=False):
            chat = chats[chat_id]
            called = start + ms(lateness[calls % len(lateness)])
            reached = called + ms(network[calls % len(network)])
            done = reached + ms(answers[calls % len(answers)])
            calls += 1
            if missed_slot(LIMITS, start, called, deadline - start):
                later = called + timedelta(seconds=POSTPONE_SECONDS)
                chat.busy_until, chat.settle = called, ChatPace(later, chat.pace.recent)
                continue
            seen.append(reached)
            seen_by_chat[chat_id].append(reached)
            chat.busy_until = done
            chat.settle = after_send(LIMITS, chat_id, chat.pace.recent, done)
    seen.sort()
    rate, window = LIMITS.token_rate, timedelta(seconds=LIMITS.token_window)
    assert all(b - a >= window for a, b in zip(seen, seen[rate:], strict=False))
    for chat_id, times in seen_by_chat.items():
        assert times == sorted(times)  # one call at a time per chat
        if is_group(chat_id):
            group_window = timedelta(seconds=LIMITS.group_window)
            later = times[LIMITS.group_rate :]
            assert all(b - a >= group_window for a, b in zip(times, later, strict=False))
        else:
            interval = timedelta(seconds=LIMITS.chat_interval)
            assert all(b - a >= interval for a, b in itertools.pairwise(times))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=120),  # ms until the next claim
            st.integers(min_value=0, max_value=60),  # how many it wants
            st.integers(min_value=0, max_value=700),  # how late its calls start, ms
        ),
        min_size=1,
        max_size=120,
    )
)
def test_no_lateness_within_the_grants_puts_more_than_the_rate_in_a_window(
    claims: list[tuple[int, int, int]],
) -> None:
    """The token alone, pushed hard: every call started as late as its grant allows or as
    the claim's lateness says, whichever is sooner, and reaching Telegram half a margin
    later (the worst case)."""
    pace = BotPace(T0 - timedelta(seconds=5))
    now = T0
    seen: list[datetime] = []
    way = timedelta(seconds=LIMITS.margin / 2)
    for gap, wanted, late in claims:
        now += ms(gap)
        grant = grant_lanes(pace, now + LEAD, LIMITS, wanted, 0, HORIZON)
        pace = grant.pace
        seen += [
            min(start + ms(late), deadline) + way
            for start, deadline in zip(grant.free, grant.free_deadlines, strict=True)
        ]
        assert all(d >= s for s, d in zip(grant.free, grant.free_deadlines, strict=True))
    seen.sort()
    rate, window = LIMITS.token_rate, timedelta(seconds=LIMITS.token_window)
    assert all(b - a >= window for a, b in zip(seen, seen[rate:], strict=False))


def test_a_bot_far_below_its_rate_keeps_only_the_deadlines_that_still_bound_a_slot() -> None:
    pace = BotPace(T0 - timedelta(hours=1))
    now = T0
    for _ in range(100):
        grant = grant_lanes(pace, now, LIMITS, 1, 0, HORIZON)
        pace = grant.pace
        assert grant.free_deadlines[0] - grant.free[0] == ms(500)
        now += ms(700)
    # Deadlines older than the window, half the margin and late_max bound nothing.
    assert 1 <= len(pace.deadlines) <= 3

"""Choosing what to send now: one per chat, within each bot's budget, oldest first."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chime_sender.domain.deliveries import Claim, Delivery, choose

pytestmark = pytest.mark.unit


def claim(n: int, bot: int, chat: int, blocked: bool = False, paid: bool = False) -> Claim:
    options = {"allow_paid_broadcast": True} if paid else {}
    delivery = Delivery(f"d{n}", bot, chat, "hi", None, None, "corr", None, options=options)
    return Claim(delivery, 0, 0, 0, None, blocked)


def ids(claims: list[Claim]) -> list[str]:
    return [c.delivery.delivery_id for c in claims]


def test_a_burst_to_one_chat_does_not_hold_up_the_others() -> None:
    candidates = [claim(i, 1, 10) for i in range(5)] + [claim(5, 1, 11), claim(6, 1, 12)]
    assert ids(choose(candidates, {(1, False): 30})) == ["d0", "d5", "d6"]


def test_the_same_chat_id_under_another_bot_is_another_chat() -> None:
    assert ids(choose([claim(0, 1, 10), claim(1, 2, 10)], {(1, False): 1, (2, False): 1})) == [
        "d0",
        "d1",
    ]


def test_a_bot_gets_no_more_than_its_budget() -> None:
    candidates = [claim(i, 1, 100 + i) for i in range(5)] + [claim(9, 2, 1)]
    assert ids(choose(candidates, {(1, False): 2, (2, False): 0})) == ["d0", "d1"]


def test_paid_and_free_sends_of_a_bot_spend_their_own_lanes_budgets() -> None:
    candidates = [claim(i, 1, 100 + i, paid=i % 2 == 0) for i in range(6)]
    assert ids(choose(candidates, {(1, False): 1, (1, True): 2})) == ["d0", "d1", "d2"]
    assert ids(choose(candidates, {(1, False): 0, (1, True): 5})) == ["d0", "d2", "d4"]


def test_a_paid_delivery_without_its_flag_is_a_free_one() -> None:
    paid = claim(0, 1, 10, paid=True).delivery
    assert paid.paid
    assert not paid.unpaid().paid
    assert "allow_paid_broadcast" not in paid.unpaid().options


def test_hopeless_deliveries_cost_no_budget() -> None:
    candidates = [claim(0, 1, 10, blocked=True), claim(1, 7, 11), claim(2, 1, 12)]
    assert ids(choose(candidates, {(1, False): 1})) == ["d0", "d1", "d2"]


def test_a_call_waited_for_its_slot_from_when_it_was_due() -> None:
    due = datetime(2026, 1, 1, tzinfo=UTC)
    paced = replace(claim(0, 1, 10), due_at=due, slot=due + timedelta(seconds=1.25))
    assert paced.paced_seconds == 1.25


def test_no_slot_no_wait_and_a_clock_step_never_makes_it_negative() -> None:
    due = datetime(2026, 1, 1, tzinfo=UTC)
    assert replace(claim(0, 1, 10), due_at=due).paced_seconds is None
    early = replace(claim(0, 1, 10), due_at=due, slot=due - timedelta(milliseconds=3))
    assert early.paced_seconds == 0.0

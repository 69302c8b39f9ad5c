"""The per-token circuit breaker every replica shares: closed, open, half-open with one
probe, and back; and one process's view of it."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chime_sender.domain.circuit import (
    CLOSED,
    Breaker,
    BreakerRules,
    Breakers,
    BreakerState,
    Signal,
    claim_probe,
    record,
    signal_of,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULES = BreakerRules(threshold=3, cooldown=10.0, max_cooldown=35.0, probe_lease=5.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def opened(now: float = 0.0, rules: BreakerRules = RULES) -> Breaker:
    return record(CLOSED, Signal.FATAL, at(now), rules)


def test_it_opens_after_consecutive_failures_only() -> None:
    b = CLOSED
    for signal in (Signal.FAILURE, Signal.FAILURE, Signal.SUCCESS, Signal.FAILURE):
        b = record(b, signal, at(0), RULES)
    b = record(b, Signal.NEUTRAL, at(0), RULES)  # a 4xx or a 429 neither counts nor resets
    b = record(b, Signal.FAILURE, at(0), RULES)
    assert b.state(at(0)) is BreakerState.CLOSED
    assert b.failures == 2
    b = record(b, Signal.FAILURE, at(1), RULES)
    assert b.state(at(1)) is BreakerState.OPEN
    assert b.opened_at == at(1)
    assert b.cooldown == RULES.cooldown


def test_a_401_opens_it_at_once() -> None:
    assert record(CLOSED, Signal.FATAL, at(0), RULES).state(at(0)) is BreakerState.OPEN


def test_signals_of_answers() -> None:
    assert signal_of(401, None) is Signal.FATAL
    assert signal_of(502, True) is Signal.FAILURE
    assert signal_of(None, True) is Signal.FAILURE  # a timeout or a connection error
    assert signal_of(None, False) is Signal.SUCCESS
    assert signal_of(403, False) is Signal.SUCCESS  # blocked: Telegram answered sensibly
    assert signal_of(429, None) is Signal.NEUTRAL
    assert signal_of(400, None) is Signal.NEUTRAL


def test_after_the_cooldown_exactly_one_probe_is_claimed() -> None:
    b = opened()
    assert claim_probe(b, "a", at(9.9), RULES) is None
    assert b.state(at(10)) is BreakerState.HALF_OPEN
    probing = claim_probe(b, "a", at(10), RULES)
    assert probing is not None
    assert probing.probe_owner == "a"
    assert claim_probe(probing, "b", at(10), RULES) is None
    assert claim_probe(probing, "b", at(14.9), RULES) is None


def test_a_probe_whose_lease_ran_out_can_be_claimed_again() -> None:
    probing = claim_probe(opened(), "a", at(10), RULES)
    assert probing is not None
    again = claim_probe(probing, "b", at(15), RULES)
    assert again is not None
    assert again.probe_owner == "b"
    # The first prober's late answer moves nothing: it is not the probe any more.
    assert record(again, Signal.SUCCESS, at(16), RULES, probe="a") == again


def test_a_successful_probe_closes_it() -> None:
    probing = claim_probe(opened(), "a", at(10), RULES)
    assert probing is not None
    assert record(probing, Signal.SUCCESS, at(11), RULES, probe="a") == CLOSED


@pytest.mark.parametrize("signal", [Signal.FAILURE, Signal.FATAL])
def test_a_failed_probe_opens_it_again_at_once_with_twice_the_cooldown(signal: Signal) -> None:
    probing = claim_probe(opened(), "a", at(10), RULES)
    assert probing is not None
    b = record(probing, signal, at(11), RULES, probe="a")
    assert b.probe_owner is None
    assert b.opened_at == at(11)
    assert b.cooldown == 20.0
    assert b.state(at(30.9)) is BreakerState.OPEN
    assert b.state(at(31)) is BreakerState.HALF_OPEN


def test_a_neutral_probe_answer_ends_the_trial_at_once() -> None:
    """A 429 or a 4xx says nothing of Telegram's health: the probe is free again now, not
    when its lease runs out."""
    probing = claim_probe(opened(), "a", at(10), RULES)
    assert probing is not None
    b = record(probing, Signal.NEUTRAL, at(11), RULES, probe="a")
    assert b.state(at(11)) is BreakerState.HALF_OPEN
    assert b.probe_owner is None
    assert claim_probe(b, "b", at(11), RULES) is not None


def test_answers_of_other_calls_do_not_move_an_open_breaker() -> None:
    probing = claim_probe(opened(), "a", at(10), RULES)
    assert probing is not None
    for signal in Signal:
        assert record(probing, signal, at(11), RULES) == probing
        assert record(probing, signal, at(11), RULES, probe="other") == probing


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(min_value=0, max_value=40)),
        st.tuples(st.just("claim"), st.sampled_from(["r1", "r2", "r3"])),
        st.tuples(st.just("answer"), st.sampled_from(list(Signal)), st.booleans()),
    ),
    max_size=60,
)


@given(OPS, st.integers(min_value=1, max_value=4))
def test_the_rules_hold_whatever_happens(ops: list[tuple[object, ...]], threshold: int) -> None:
    rules = BreakerRules(threshold=threshold, cooldown=10.0, max_cooldown=35.0, probe_lease=5.0)
    b, now, failed_probes = CLOSED, 0.0, 0
    for op in ops:
        if op[0] == "advance":
            now += float(op[1])  # type: ignore[arg-type]
        elif op[0] == "claim":
            before = b
            claimed = claim_probe(b, str(op[1]), at(now), rules)
            # A probe is claimed exactly when half-open and no live probe holds it...
            assert (claimed is not None) == (
                before.state(at(now)) is BreakerState.HALF_OPEN and not before.probe_taken(at(now))
            )
            if claimed is not None:
                b = claimed
                # ...and then no one else gets it until it is answered or its lease ends.
                assert claim_probe(b, "another", at(now), rules) is None
        else:
            signal, from_probe = op[1], op[2]
            assert isinstance(signal, Signal)
            probe = b.probe_owner if from_probe else None
            was_probe = probe is not None and b.opened_at is not None
            b = record(b, signal, at(now), rules, probe)
            if was_probe:
                # The crucial rule: any answer of the probe frees it at once.
                assert b.probe_owner is None
                assert b.probe_until is None
                if signal is Signal.SUCCESS:
                    assert b == CLOSED
                    failed_probes = 0
                elif signal in (Signal.FAILURE, Signal.FATAL):
                    failed_probes += 1
                    assert b.opened_at == at(now)
                    assert b.cooldown == min(35.0, 10.0 * 2**failed_probes)
            elif b.opened_at is None:
                failed_probes = 0
        # Always: a closed breaker counts fewer failures than open it; an open one waits
        # between the cooldown and its maximum; a closed one holds no probe.
        if b.opened_at is None:
            assert b.failures < threshold
            assert b.probe_owner is None
        else:
            assert 10.0 <= b.cooldown <= 35.0
            assert b.failures == 0


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_view_reads_again_once_its_copy_is_too_old() -> None:
    clock = Clock()
    view = Breakers(RULES, refresh_seconds=0.5, clock=clock)
    assert view.stale()
    assert view.state(1) is BreakerState.CLOSED
    view.seen({1: opened()}, at(0), every=True)
    assert not view.stale()
    assert view.state(1) is BreakerState.OPEN
    clock.now = 0.5
    assert view.stale()
    clock.now = 10.0  # the database's time is estimated on the local clock
    assert view.state(1) is BreakerState.HALF_OPEN
    assert view.may_probe(1)
    assert view.state(2) is BreakerState.CLOSED


def test_a_view_lets_only_its_probe_call_while_not_closed() -> None:
    view = Breakers(RULES, clock=Clock())
    probing = claim_probe(opened(), "d-1", at(10), RULES)
    assert probing is not None
    view.seen({1: probing}, at(10), every=True)
    view.probes[1] = "d-1"
    assert view.allows(1, "d-1")
    assert not view.allows(1, "d-2")
    assert view.allows(2, "d-3")  # another bot, closed
    view.seen({1: CLOSED}, at(11), every=False)  # decided elsewhere meanwhile
    assert view.probes == {}
    assert view.allows(1, "d-2")


def test_a_view_writes_only_answers_that_can_move_a_breaker() -> None:
    view = Breakers(RULES, clock=Clock())
    view.seen({}, at(0), every=True)
    view.note(1, "d-1", Signal.SUCCESS)
    view.note(1, "d-2", Signal.NEUTRAL)
    assert view.pending == []  # the hot path: nothing to write
    view.note(1, "d-3", Signal.FAILURE)
    view.seen({1: record(CLOSED, Signal.FAILURE, at(0), RULES)}, at(0), every=False)
    view.note(1, "d-4", Signal.SUCCESS)  # resets the count
    assert view.take() == [(1, Signal.FAILURE, None), (1, Signal.SUCCESS, None)]
    view.seen({1: opened()}, at(0), every=False)
    view.note(1, "d-5", Signal.FAILURE)  # open: only the probe counts
    assert view.pending == []
    view.probes[1] = "d-6"
    view.note(1, "d-6", Signal.NEUTRAL)
    noted = view.take()
    assert noted == [(1, Signal.NEUTRAL, "d-6")]
    view.untake(noted)  # its write failed: kept for the next
    assert view.pending == noted

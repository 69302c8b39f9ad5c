"""The per-token circuit breaker: closed, open, half-open, and back."""

import pytest

from chime_sender.domain.circuit import Breakers, BreakerState, CircuitBreaker

pytestmark = pytest.mark.unit


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(3, 10.0, Clock())
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allows()
    assert not breaker.begin()


def test_after_the_cooldown_one_trial_goes_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock)
    breaker.failure()
    clock.now = 9.9
    assert breaker.state is BreakerState.OPEN
    clock.now = 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.begin()
    assert not breaker.begin()  # only one trial at a time
    assert not breaker.allows()


def test_a_successful_trial_closes_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock)
    breaker.failure()
    clock.now = 10.0
    assert breaker.begin()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.begin()
    assert breaker.begin()


def test_a_failed_trial_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(5, 10.0, clock)
    for _ in range(5):
        breaker.failure()
    clock.now = 10.0
    assert breaker.begin()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 19.9
    assert breaker.state is BreakerState.OPEN
    clock.now = 20.0
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_neutral_answer_ends_the_trial_without_deciding() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock)
    breaker.failure()
    clock.now = 10.0
    assert breaker.begin()
    breaker.neutral()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.begin()


def test_breakers_are_per_bot() -> None:
    breakers = Breakers(1, 10.0, Clock())
    breakers.of(1).failure()
    assert breakers.of(1).state is BreakerState.OPEN
    assert breakers.of(2).state is BreakerState.CLOSED
    assert breakers.states() == {1: BreakerState.OPEN, 2: BreakerState.CLOSED}

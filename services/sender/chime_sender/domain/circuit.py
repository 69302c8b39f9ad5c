"""A circuit breaker per bot token: stop calling a Telegram that keeps failing, retry later."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum


class BreakerState(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `cooldown` one trial call is let
    through (half-open); its success closes the breaker, its failure opens it again."""

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allows(self) -> bool:
        """Whether a call may be made now (without claiming the half-open trial)."""
        state = self.state
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._trial_in_flight
        )

    def begin(self) -> bool:
        """Claim the right to call; in half-open only one caller gets it."""
        if not self.allows():
            return False
        if self.state is BreakerState.HALF_OPEN:
            self._trial_in_flight = True
        return True

    def success(self) -> None:
        self.failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def failure(self) -> None:
        self.failures += 1
        half_open = self.state is BreakerState.HALF_OPEN
        self._trial_in_flight = False
        if half_open or self.failures >= self.threshold:
            self._opened_at = self.clock()

    def neutral(self) -> None:
        """A call that said nothing about Telegram's health (a 4xx): just end the trial."""
        self._trial_in_flight = False


class Breakers:
    """One breaker per bot, created on first use."""

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._by_bot: dict[int, CircuitBreaker] = {}

    def of(self, bot_id: int) -> CircuitBreaker:
        breaker = self._by_bot.get(bot_id)
        if breaker is None:
            breaker = CircuitBreaker(self.threshold, self.cooldown, self.clock)
            self._by_bot[bot_id] = breaker
        return breaker

    def states(self) -> dict[int, BreakerState]:
        return {bot: breaker.state for bot, breaker in self._by_bot.items()}

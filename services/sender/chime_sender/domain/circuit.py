"""A circuit breaker per bot token, shared by every sender replica: the pure rules.

Each bot's breaker is one row (`bot_breakers`, see adapters/breakers.py) that every replica
reads and changes under a row lock, on the database's clock. Closed, it counts consecutive
failures (5xx, timeouts, connection errors) and opens at `threshold` of them, or at once on a
401 (the token was revoked). Open, no replica calls with the token until `cooldown` has
passed; then it is half-open and exactly one call, the probe, is let through: the replica
that claims it holds it for `probe_lease` at most (a prober that dies frees it). The probe's
answer decides at once: success closes the breaker, failure opens it again with the cooldown
doubled (up to `max_cooldown`), and an answer that says nothing about Telegram's health (a
429, a 4xx, a call not made) ends the trial, so the next probe may go right away.

`Breakers` is one process's view: the rows as last read (kept briefly, so a send costs no
query), the probes it holds, and the answers it has yet to write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum


class BreakerState(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Signal(Enum):
    SUCCESS = "success"  # Telegram answered sensibly
    FAILURE = "failure"  # 5xx, timeout, connection error: Telegram looks down
    FATAL = "fatal"  # 401: the token is revoked; no use waiting for more
    NEUTRAL = "neutral"  # says nothing of Telegram's health (429, other 4xx, no call made)


UNAUTHORIZED = 401


def signal_of(error_code: int | None, counts: bool | None) -> Signal:
    """`counts` is `outcomes.counts_for_breaker` of the answer's verdict."""
    if error_code == UNAUTHORIZED:
        return Signal.FATAL
    if counts is True:
        return Signal.FAILURE
    if counts is False:
        return Signal.SUCCESS
    return Signal.NEUTRAL


@dataclass(frozen=True)
class BreakerRules:
    threshold: int = 5
    cooldown: float = 30.0
    max_cooldown: float = 300.0
    probe_lease: float = 30.0


@dataclass(frozen=True)
class Breaker:
    """One bot's shared breaker; times are the database's clock."""

    failures: int = 0
    opened_at: datetime | None = None
    cooldown: float = 0.0  # seconds, of the current opening
    probe_owner: str | None = None
    probe_until: datetime | None = None

    def state(self, now: datetime) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if now < self.opened_at + timedelta(seconds=self.cooldown):
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def probe_taken(self, now: datetime) -> bool:
        return (
            self.probe_owner is not None and self.probe_until is not None and now < self.probe_until
        )

    def may_probe(self, now: datetime) -> bool:
        return self.state(now) is BreakerState.HALF_OPEN and not self.probe_taken(now)

    @property
    def quiet(self) -> bool:
        """Closed with no failure counted: an answer that is not a failure changes nothing."""
        return self.opened_at is None and self.failures == 0


CLOSED = Breaker()


def _open(now: datetime, cooldown: float) -> Breaker:
    return Breaker(failures=0, opened_at=now, cooldown=cooldown)


def claim_probe(breaker: Breaker, owner: str, now: datetime, rules: BreakerRules) -> Breaker | None:
    """The breaker with `owner` holding its probe, or None when no probe may start now."""
    if not breaker.may_probe(now):
        return None
    return replace(
        breaker, probe_owner=owner, probe_until=now + timedelta(seconds=rules.probe_lease)
    )


def record(
    breaker: Breaker, signal: Signal, now: datetime, rules: BreakerRules, probe: str | None = None
) -> Breaker:
    """The breaker after an answer; `probe` names the call when it was made as a probe.

    While the breaker is open, only its probe's answer counts: calls that started before it
    opened (or whose probe lease ran out) end as they may without moving it."""
    if breaker.opened_at is None:
        if signal is Signal.FATAL:
            return _open(now, rules.cooldown)
        if signal is Signal.FAILURE:
            failures = breaker.failures + 1
            if failures >= rules.threshold:
                return _open(now, rules.cooldown)
            return replace(breaker, failures=failures)
        return CLOSED if signal is Signal.SUCCESS else breaker
    if probe is None or probe != breaker.probe_owner:
        return breaker
    if signal is Signal.SUCCESS:
        return CLOSED
    if signal in (Signal.FAILURE, Signal.FATAL):
        return _open(now, min(rules.max_cooldown, max(rules.cooldown, 2 * breaker.cooldown)))
    return replace(breaker, probe_owner=None, probe_until=None)


@dataclass
class Breakers:
    """One process's view of the shared breakers (see the module's docstring).

    `clock` is this process's monotonic clock: the database's time now is estimated as the
    time the rows were read plus what this clock says has passed since."""

    rules: BreakerRules = field(default_factory=BreakerRules)
    refresh_seconds: float = 0.5
    clock: Callable[[], float] = field(default=lambda: 0.0)
    rows: dict[int, Breaker] = field(default_factory=dict)
    read_at: datetime | None = None  # the database's clock when `rows` were read
    read_at_local: float = 0.0
    probes: dict[int, str] = field(default_factory=dict)  # bot -> delivery probing it here
    pending: list[tuple[int, Signal, str | None]] = field(default_factory=list)

    def stale(self) -> bool:
        return self.read_at is None or self.clock() - self.read_at_local >= self.refresh_seconds

    def now(self) -> datetime | None:
        if self.read_at is None:
            return None
        return self.read_at + timedelta(seconds=self.clock() - self.read_at_local)

    def seen(self, rows: Mapping[int, Breaker], db_now: datetime, *, every: bool) -> None:
        """Rows just read: `every` row that is not closed and quiet (others are), or some."""
        self.rows = dict(rows) if every else self.rows | dict(rows)
        self.rows = {bot: row for bot, row in self.rows.items() if not row.quiet}
        self.read_at, self.read_at_local = db_now, self.clock()
        # A probe whose lease ran out, or already decided elsewhere, is not held any more.
        self.probes = {
            bot: owner
            for bot, owner in self.probes.items()
            if self.of(bot).probe_owner == owner and self.of(bot).probe_taken(db_now)
        }

    def of(self, bot_id: int) -> Breaker:
        return self.rows.get(bot_id, CLOSED)

    def state(self, bot_id: int) -> BreakerState:
        row = self.rows.get(bot_id)  # most bots, most of the time: none, closed
        now = None if row is None else self.now()
        return BreakerState.CLOSED if row is None or now is None else row.state(now)

    def may_probe(self, bot_id: int) -> bool:
        now = self.now()
        return now is not None and self.of(bot_id).may_probe(now)

    def is_probe(self, bot_id: int, delivery_id: str) -> bool:
        return self.probes.get(bot_id) == delivery_id

    def allows(self, bot_id: int, delivery_id: str) -> bool:
        """Whether a claimed call may be made now: the breaker is closed, or it is the probe."""
        return self.state(bot_id) is BreakerState.CLOSED or self.is_probe(bot_id, delivery_id)

    def note(self, bot_id: int, delivery_id: str, signal: Signal) -> None:
        """An answer (or a call not made) to write to the shared row; one that cannot move
        it (not a failure, breaker closed and quiet, no probe) costs nothing."""
        probe = delivery_id if self.is_probe(bot_id, delivery_id) else None
        if probe is None and signal in (Signal.SUCCESS, Signal.NEUTRAL) and self.of(bot_id).quiet:
            return
        if probe is None and self.of(bot_id).opened_at is not None:
            return  # only the probe's answer moves an open breaker
        self.pending.append((bot_id, signal, probe))

    def take(self) -> list[tuple[int, Signal, str | None]]:
        """The answers noted so far, to write (put them back with `untake` if that failed)."""
        taken, self.pending = self.pending, []
        return taken

    def untake(self, taken: list[tuple[int, Signal, str | None]]) -> None:
        self.pending = taken + self.pending

"""Injected failures of the Bot API: errors, hung requests and slow responses."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

STATUS_DESCRIPTIONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
DEFAULT_TIMEOUT_DELAY_S = 30.0
DEFAULT_SLOW_DELAY_S = 1.0


class FaultMode(StrEnum):
    NONE = "none"
    ERROR = "error"
    TIMEOUT = "timeout"
    SLOW = "slow"


@dataclass
class FaultRule:
    mode: FaultMode
    status: int = 502
    delay_s: float = 0.0
    methods: frozenset[str] | None = None  # lower-case method names; None means all
    bot_id: int | None = None
    remaining: int | None = None  # None means until cleared

    def matches(self, method: str, bot_id: int) -> bool:
        if self.bot_id is not None and self.bot_id != bot_id:
            return False
        return self.methods is None or method.lower() in self.methods

    def to_api(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "status": self.status,
            "delay_s": self.delay_s,
            "methods": None if self.methods is None else sorted(self.methods),
            "bot_id": self.bot_id,
            "count": self.remaining,
        }


def make_rule(
    mode: FaultMode,
    *,
    status: int | None = None,
    delay_s: float | None = None,
    methods: list[str] | None = None,
    bot_id: int | None = None,
    count: int | None = None,
) -> FaultRule | None:
    if mode is FaultMode.NONE:
        return None
    if delay_s is None:
        delay_s = DEFAULT_SLOW_DELAY_S if mode is FaultMode.SLOW else DEFAULT_TIMEOUT_DELAY_S
    return FaultRule(
        mode=mode,
        status=504 if mode is FaultMode.TIMEOUT else (status or 502),
        delay_s=0.0 if mode is FaultMode.ERROR else delay_s,
        methods=None if methods is None else frozenset(m.lower() for m in methods),
        bot_id=bot_id,
        remaining=count,
    )


class FaultBook:
    def __init__(self) -> None:
        self.rule: FaultRule | None = None

    def take(self, method: str, bot_id: int) -> FaultRule | None:
        """The fault to apply to this call, consuming one use of a counted rule."""
        rule = self.rule
        if rule is None or not rule.matches(method, bot_id):
            return None
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                self.rule = None
        return rule

    def to_api(self) -> dict[str, Any]:
        if self.rule is None:
            return {"mode": FaultMode.NONE.value}
        return self.rule.to_api()

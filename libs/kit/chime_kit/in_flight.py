"""Event times of messages a consumer has taken from its queue but not yet finished.

Consumers apply messages concurrently, so a later event can commit before an earlier one.
Whoever acts on what consumers stored (the sender's delivery loop, say) can wait for the
watermark: everything older than the oldest message still in flight is already stored.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime


class InFlight:
    def __init__(self) -> None:
        self._times: Counter[datetime] = Counter()

    def enter(self, occurred_at: datetime) -> None:
        self._times[occurred_at] += 1

    def leave(self, occurred_at: datetime) -> None:
        self._times[occurred_at] -= 1
        if self._times[occurred_at] <= 0:
            del self._times[occurred_at]

    def count(self) -> int:
        """How many messages are in flight (a method, so a tracker is never falsy)."""
        return sum(self._times.values())

    def watermark(self) -> datetime | None:
        """The oldest event time in flight; None when nothing is."""
        return min(self._times) if self._times else None


def oldest(*trackers: InFlight) -> datetime | None:
    marks = [m for m in (t.watermark() for t in trackers) if m is not None]
    return min(marks) if marks else None

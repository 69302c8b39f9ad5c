"""What the scheduler's handlers need of storage, as ports: PostgreSQL in
`adapters/postgres.py`, in memory in `adapters/memory.py`; one contract suite runs on both."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from chime_kit.projection import Projection
from chime_scheduler.domain.reminders import Reminder


class Reminders(Projection, Protocol):
    """The reminders projection, which is also the index firing claims due work from."""

    async def claim_due(self, now: datetime, limit: int) -> list[Reminder]:
        """Mark up to `limit` due reminders fired, once across every replica; each comes back
        with its stream's version after the fired event that the caller then appends."""
        ...

    async def next_due_at(self) -> datetime | None: ...

    async def status(self, reminder_id: str) -> str | None: ...

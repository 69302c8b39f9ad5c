"""The loop that fires due work: thin, the rules are in handlers.fire_due_reminders."""

from __future__ import annotations

from datetime import UTC, datetime

from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime
from chime_scheduler import handlers
from chime_scheduler.adapters.postgres import PostgresReminders
from chime_scheduler.metrics import FIRE_LAG, FIRED


class FiringLoop:
    def __init__(self, runtime: Runtime, *, batch_size: int, max_idle_seconds: float) -> None:
        self.runtime = runtime
        self.batch_size = batch_size
        self.max_idle_seconds = max_idle_seconds
        self._loop = runtime.watch(BackgroundLoop("scheduler-firing", self._run))

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def fire_once(self) -> int:
        now = datetime.now(UTC)
        async with self.runtime.unit_of_work() as uow:
            fired = await handlers.fire_due_reminders(
                uow, PostgresReminders(uow.conn), now, self.batch_size
            )
        for reminder in fired:
            FIRE_LAG.labels("scheduler").observe((now - reminder.due_at).total_seconds())
        FIRED.labels("scheduler", "reminder").inc(len(fired))
        return len(fired)

    async def fire_until_idle(self) -> int:
        """Fire batches until nothing is due; how many fired."""
        total = 0
        while fired := await self.fire_once():
            total += fired
        return total

    async def _run(self) -> None:
        # A failure (the database restarting) ends the body: the loop's supervisor logs it,
        # backs off and starts it again, and the probes see a loop that keeps failing.
        while True:
            self._loop.clear()
            fired = await self.fire_once()
            if fired >= self.batch_size:
                continue
            await self._sleep_until_next_due()

    async def _sleep_until_next_due(self) -> None:
        async with self.runtime.pool.acquire() as conn:
            next_due = await PostgresReminders(conn).next_due_at()
        timeout = self.max_idle_seconds
        if next_due is not None:
            until_due = (next_due - datetime.now(UTC)).total_seconds()
            timeout = max(0.0, min(timeout, until_due))
        await self._loop.sleep(timeout)

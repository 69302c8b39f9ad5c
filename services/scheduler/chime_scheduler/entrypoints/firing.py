"""The loop that fires due work: thin, the rules are in `handlers`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from chime_kit.event_store import ConcurrencyError
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime
from chime_scheduler import handlers
from chime_scheduler.handlers.firing import Fired
from chime_scheduler.metrics import DUE_BACKLOG, FIRE_LAG, FIRED, LIVE_SCHEDULES
from chime_scheduler.ports import StoreOf
from chime_scheduler.settings import SchedulerSettings

log = logging.getLogger(__name__)


class FiringLoop:
    def __init__(self, runtime: Runtime, settings: SchedulerSettings, store_of: StoreOf) -> None:
        self.runtime = runtime
        self.store_of = store_of  # the repositories on a connection, from bootstrap
        self.batch_size = settings.fire_batch_size
        self.max_idle_seconds = settings.max_idle_seconds
        self.on_time = timedelta(seconds=settings.on_time_seconds)
        self.gauges_every = settings.gauges_every_seconds
        self._gauges_at = 0.0
        self._loop = runtime.watch(BackgroundLoop("scheduler-firing", self._run))

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def wake(self) -> None:
        self._loop.wake()

    async def fire_once(self) -> int:
        """One batch of each kind of due work; how many occurrences fired."""
        now = datetime.now(UTC)
        total = 0
        try:
            async with self.runtime.unit_of_work() as uow:
                store = self.store_of(uow.conn)
                fired = await handlers.fire_due_schedules(
                    uow, store, now, self.batch_size, self.on_time
                )
            total += self._count(fired, now)
            async with self.runtime.unit_of_work() as uow:
                store = self.store_of(uow.conn)
                reminders = await handlers.fire_due_reminders(
                    uow, store.reminders, now, self.batch_size
                )
                started = await handlers.start_due_broadcasts(uow, store, now, 2)
                handed = await handlers.hand_due_slices(uow, store, now, self.batch_size)
            total += self._count((Fired(r.kind, r.due_at) for r in reminders), now)
            total += self._count(started, now) + handed
        except ConcurrencyError:
            # A change request appended to a claimed schedule's stream first: the batch
            # rolled back, its rows stay due, and the next look claims them again.
            log.info("a firing batch lost a race with a change; its rows stay due")
            return 0
        return total

    def _count(self, fired: Iterable[Fired], now: datetime) -> int:
        n = 0
        for f in fired:
            FIRE_LAG.labels("scheduler").observe((now - f.occurrence).total_seconds())
            FIRED.labels("scheduler", f.source).inc()
            n += 1
        return n

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
            await self._gauges()
            if fired >= self.batch_size:
                continue
            await self._sleep_until_next_due()

    async def _gauges(self) -> None:
        if time.monotonic() - self._gauges_at < self.gauges_every:
            return
        self._gauges_at = time.monotonic()
        async with self.runtime.pool.acquire() as conn:
            live, due = await self.store_of(conn).schedules.counts()
        LIVE_SCHEDULES.set(live)
        DUE_BACKLOG.set(due)

    async def _sleep_until_next_due(self) -> None:
        async with self.runtime.pool.acquire() as conn:
            store = self.store_of(conn)
            found = [
                await store.schedules.next_fire_at(),
                await store.reminders.next_due_at(),
                await store.broadcasts.next_due_at(),
                await store.broadcasts.next_slice_at(),
            ]
        timeout = self.max_idle_seconds
        due = [d for d in found if d is not None]
        if due:
            until_due = (min(due) - datetime.now(UTC)).total_seconds()
            timeout = max(0.0, min(timeout, until_due))
        await self._loop.sleep(timeout)

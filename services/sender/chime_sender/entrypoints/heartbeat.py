"""This sender's heartbeat, and the burial of senders that died.

Every `interval` the process writes its heartbeat; it starts no Telegram call more than
`fence` after the last heartbeat it wrote (`may_call`), so when its heartbeat is older than
`dead_after` every claim of it whose slot starts past `heartbeat + fence + margin` was never
called: a replica sweeping it re-queues those at once and settles only the rest as unknown.

A replica judges others by staleness only once its own heartbeats have run unbroken for
`dead_after`: after a database outage every heartbeat is stale, and none should bury a live
peer that has not had time to beat again.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from ulid import ULID

from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime
from chime_sender import handlers
from chime_sender.adapters.instances import Instances
from chime_sender.calling import Sending
from chime_sender.domain.deliveries import Claim
from chime_sender.metrics import CLAIMS_RELEASED, DELIVERIES

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        runtime: Runtime,
        sending: Sending,
        *,
        name: str,
        interval: float,
        fence: float,
        dead_after: float,
        clock_margin: float,
    ) -> None:
        self.runtime = runtime
        self.sending = sending
        self.name = name
        self.interval = interval
        self.fence = fence
        self.dead_after = dead_after
        self.clock_margin = clock_margin
        self.instance_id = str(ULID())
        self._beat_sent: float | None = None  # monotonic, taken before the beat was sent
        self._unbroken_since = 0.0
        self._loop = runtime.watch(
            BackgroundLoop("sender-heartbeat", self._run, restart_max_seconds=interval)
        )

    async def start(self) -> None:
        await self._register()
        self._loop.start()

    async def stop(self) -> None:
        """After the delivery loop stopped and settled: nothing of ours is left to sweep."""
        await self._loop.stop()
        async with self.runtime.pool.acquire() as conn:
            await Instances(conn).remove(self.instance_id)

    def fresh(self) -> bool:
        sent = self._beat_sent
        return sent is not None and time.monotonic() - sent <= self.fence

    def may_call(self, claim: Claim) -> bool:
        return claim.owner == self.instance_id and self.fresh()

    async def beat(self) -> None:
        sent = time.monotonic()
        async with self.runtime.pool.acquire() as conn:
            alive = await Instances(conn).beat(self.instance_id)
        if not alive:
            # Judged dead (a long pause): its claims were settled; those still in memory are
            # fenced by their owner. Carry on as a new instance.
            log.error("sender instance %s was judged dead; registering anew", self.instance_id)
            self.instance_id = str(ULID())
            await self._register()
            return
        if self._beat_sent is None or sent - self._beat_sent > self.fence:
            self._unbroken_since = sent
        self._beat_sent = sent

    async def sweep(self) -> None:
        """Bury dead senders: predecessors of this name at once, the stale ones once this
        process's own heartbeats have run unbroken long enough to judge them."""
        unbroken = time.monotonic() - self._unbroken_since >= self.dead_after
        stale = timedelta(seconds=self.dead_after) if unbroken else None
        fence = timedelta(seconds=self.fence + self.clock_margin)
        async with self.runtime.unit_of_work() as uow:
            dead = await Instances(uow.conn).dead(self.instance_id, self.name, stale)
            for instance in dead:
                requeued, unknown = await handlers.bury(
                    uow, self.sending, instance, fence, datetime.now(UTC)
                )
                log.warning(
                    "sender %s is dead: %d claims never called re-queued, %d unknown",
                    instance.instance_id,
                    requeued,
                    unknown,
                )
                CLAIMS_RELEASED.labels("sender").inc(requeued)
                DELIVERIES.labels("sender", "unknown").inc(unknown)

    async def _register(self) -> None:
        sent = time.monotonic()
        async with self.runtime.pool.acquire() as conn:
            await Instances(conn).register(self.instance_id, self.name)
        self._beat_sent = self._unbroken_since = sent

    async def _run(self) -> None:
        while True:
            self._loop.clear()
            await self.beat()
            await self.sweep()
            await self._loop.sleep(self.interval)

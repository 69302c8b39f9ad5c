"""This sender's heartbeat, and the burial of senders that died.

Every `interval` the process writes its heartbeat and a promise, `calls_until`, `fence`
ahead on the database's clock; it calls no claim whose slot starts later than the last
promise stored (`may_call`). When its heartbeat is older than `dead_after`, every claim of it
whose slot starts past its promise was never called: a replica sweeping it re-queues those
at once and settles only the rest (at most `fence` worth of slots) as unknown.

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
from chime_sender.adapters.instances import Instances
from chime_sender.adapters.postgres import stores
from chime_sender.domain.deliveries import Claim
from chime_sender.handlers import Sending, recovery
from chime_sender.metrics import CLAIMS_RELEASED, DELIVERIES, UNKNOWN_OUTCOMES
from chime_sender.settings import SERVICE

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
    ) -> None:
        self.runtime = runtime
        self.sending = sending
        self.name = name
        self.interval = interval
        self.fence = fence
        self.dead_after = dead_after
        self.instance_id = str(ULID())
        self.calls_until: datetime | None = None  # the last promise stored
        self._beat_at = 0.0  # monotonic, when the last beat was stored
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

    def may_call(self, claim: Claim) -> bool:
        promise = self.calls_until
        return (
            claim.owner == self.instance_id
            and claim.slot is not None
            and promise is not None
            and claim.slot <= promise
        )

    async def beat(self) -> None:
        async with self.runtime.pool.acquire() as conn:
            promise = await Instances(conn).beat(self.instance_id, self._fence)
        if promise is None:
            # Judged dead (a long pause): its claims were settled; those still in memory are
            # refused by `may_call`. Carry on as a new instance.
            log.error("sender instance %s was judged dead; registering anew", self.instance_id)
            self.instance_id = str(ULID())
            await self._register()
            return
        now = time.monotonic()
        if now - self._beat_at > self.dead_after / 2:
            self._unbroken_since = now
        self._beat_at = now
        self.calls_until = promise

    async def sweep(self) -> None:
        """Bury dead senders: predecessors of this name at once, the stale ones once this
        process's own heartbeats have run unbroken long enough to judge them."""
        unbroken = time.monotonic() - self._unbroken_since >= self.dead_after
        stale = timedelta(seconds=self.dead_after) if unbroken else None
        async with self.runtime.unit_of_work() as uow:
            dead = await Instances(uow.conn).dead(self.instance_id, self.name, stale)
            for instance in dead:
                requeued, unknown = await recovery.bury(
                    uow, stores(uow.conn), self.sending, instance, datetime.now(UTC)
                )
                log.warning(
                    "sender %s is dead: %d claims never called re-queued, %d unknown",
                    instance.instance_id,
                    requeued,
                    unknown,
                )
                CLAIMS_RELEASED.labels(SERVICE).inc(requeued)
                DELIVERIES.labels(SERVICE, "unknown").inc(unknown)
                UNKNOWN_OUTCOMES.labels(SERVICE, "crash").inc(unknown)

    @property
    def _fence(self) -> timedelta:
        return timedelta(seconds=self.fence)

    async def _register(self) -> None:
        async with self.runtime.pool.acquire() as conn:
            promise = await Instances(conn).register(self.instance_id, self.name, self._fence)
        self._beat_at = self._unbroken_since = time.monotonic()
        self.calls_until = promise

    async def _run(self) -> None:
        while True:
            self._loop.clear()
            await self.beat()
            await self.sweep()
            await self._loop.sleep(self.interval)

"""The loop that sends: claim ready deliveries, call Telegram outside any transaction, settle
the answers in batches. The rules are in handlers; this is scheduling and concurrency.

A database error ends the claiming loop's body; its supervisor logs it and starts it again
with backoff. Answers Telegram gave wait in memory for the settler, which writes all that
have arrived in one unit of work, retrying with backoff until they are recorded: a database
outage delays them, never turns them into failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from chime_kit.db import DATABASE_ERRORS
from chime_kit.loops import BackgroundLoop, restart_delay, work_until_idle
from chime_kit.runtime import Runtime
from chime_kit.telegram import Answer
from chime_sender.adapters.postgres import NEW_DELIVERY_CHANNEL, DeliveryRepository, stores
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.settlement import Settled, Settlement
from chime_sender.entrypoints.heartbeat import Heartbeat
from chime_sender.handlers import Sending, breakers, call, claim, recovery, settle
from chime_sender.metrics import (
    CLAIMS_RELEASED,
    DELIVERIES,
    SETTLE_BATCH,
    UNKNOWN_OUTCOMES,
)
from chime_sender.settings import SERVICE

log = logging.getLogger(__name__)
MIN_SLEEP_SECONDS = 0.02
# Work due but not claimable (a chat paced, its bot's slots within the horizon taken) is
# looked at again this soon, not at once: every look is a claim's transaction (about ten
# round trips), and the slots it grants reach `horizon` ahead, so looking more often (it was
# every 20 ms, and after every call that ended) only makes more, smaller claims. Work due
# later (a new request's grace, a retry's backoff) is looked for when it is due.
RECHECK_SECONDS = 0.1
_NO_ANSWER = Answer(ok=False, transport_error="no_answer")
SETTLE_BACKOFF_MAX_SECONDS = 2.0
# How long the settler lets answers gather before writing them: one unit of work (about
# eight round trips) per batch, and answers come one by one at the pace of the send slots,
# so without a pause a batch held the few that arrived while the last was written. A chat's
# next send waits that much longer; the call is held by its claim until settled, as before.
SETTLE_LINGER_SECONDS = 0.05
Pending = tuple[call.Called, "asyncio.Future[Settlement | None]"]
# Settled so that the delivery is due again at once: claimed without waiting for a look.
_AGAIN_NOW = frozenset({Settled.PART_SENT, Settled.MIGRATED})


class Lead:
    """How long after a claim its first send slot starts: the configured lead, or longer
    while claims take longer to commit (a busy database or process), so the first slots of a
    claim are not already gone when its calls start."""

    def __init__(self, floor: float, cap: float = 0.5) -> None:
        self.floor = floor
        self.cap = cap
        self._recent = floor

    def observe(self, claim_seconds: float) -> None:
        # Rises at once with a slow claim, falls back slowly.
        self._recent = max(claim_seconds, self._recent * 0.9)

    @property
    def seconds(self) -> float:
        return min(self.cap, max(self.floor, 1.5 * self._recent))


class DeliveryLoop:
    def __init__(
        self,
        runtime: Runtime,
        sending: Sending,
        *,
        batch_size: int,
        concurrency: int,
        lease_seconds: float,
        max_idle_seconds: float,
        sweep_seconds: float = 1.0,
        settle_batch_size: int = 200,
        heartbeat: Heartbeat | None = None,
        recheck_seconds: float = RECHECK_SECONDS,
        settle_linger_seconds: float = SETTLE_LINGER_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.sending = sending
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_idle_seconds = max_idle_seconds
        self.sweep_seconds = sweep_seconds
        self.settle_batch_size = settle_batch_size
        self.heartbeat = heartbeat
        self.recheck_seconds = recheck_seconds
        self.settle_linger_seconds = settle_linger_seconds
        self._loop = runtime.watch(
            BackgroundLoop("sender-delivery", self._run, restart_max_seconds=1.0)
        )
        self._in_flight: set[asyncio.Task[None]] = set()
        # Claims whose call has not started (waiting for their slot), by delivery id.
        self._unsent: dict[str, asyncio.Task[None]] = {}
        self._held: set[str] = set()  # every claim this process is working on
        self._claim_in_doubt = False  # a claim's transaction failed: it may have committed
        self._listener: asyncpg.Connection | None = None
        self._last_sweep = 0.0
        self._answers: asyncio.Queue[Pending] = asyncio.Queue()
        self._urgent = asyncio.Event()  # an answer that must not wait for the linger
        self._lead = Lead(sending.policy.limits.lead)
        self._settler: asyncio.Task[None] | None = None
        # The last claim took all it asked for (there may be more at once), and whether what
        # bounded it was the free concurrency (a call ending frees room for another).
        self._full = False
        self._capped = False

    def wake(self, *_: Any) -> None:
        self._loop.wake()

    async def start(self) -> None:
        try:
            self._listener = await asyncpg.connect(
                self.runtime.settings.database_url.get_secret_value()
            )
            await self._listener.add_listener(NEW_DELIVERY_CHANNEL, self.wake)
        except DATABASE_ERRORS:
            log.warning("no LISTEN connection; new deliveries are found by polling")
        self._settler = asyncio.create_task(self._settle_answers(), name="sender-settler")
        self._loop.start()

    async def stop(self, grace_seconds: float = 20.0) -> None:
        await self._loop.stop()
        await self._release_unsent()
        # Calls in flight finish and settle; cancelling one would leave its outcome unknown.
        if self._in_flight:
            _, late = await asyncio.wait(self._in_flight, timeout=grace_seconds)
            for task in late:
                task.cancel()
        if self._settler is not None:
            self._settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settler
        if self._listener is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                await self._listener.close()

    async def _release_unsent(self) -> None:
        """Give back every claim of this sender not being called: pending again at once, for
        any replica. Those waiting for their slot, and any a claim cut short by the stop
        committed without this process learning of it (its loop was cancelled mid-COMMIT)."""
        if self.heartbeat is None:
            return
        unsent = dict(self._unsent)
        for task in unsent.values():
            task.cancel()  # it is waiting for its slot: nothing has left
        if unsent:
            await asyncio.wait(unsent.values())
        calling = sorted(self._held - set(unsent))
        try:
            async with self.runtime.unit_of_work() as uow:
                released = await recovery.release_unheld(
                    stores(uow.conn), self.heartbeat.instance_id, calling, datetime.now(UTC)
                )
        except DATABASE_ERRORS:
            # Left to the sweep of this dead instance: their slots are past its promise.
            log.exception("could not give back %d unsent claims", len(unsent))
            return
        CLAIMS_RELEASED.labels(SERVICE).inc(released)

    async def run_once(self) -> int:
        """Sweep expired leases (now and then), claim what is ready, start its calls."""
        if time.monotonic() - self._last_sweep >= self.sweep_seconds:
            async with self.runtime.unit_of_work() as uow:
                lost = await recovery.expire_leases(
                    uow, stores(uow.conn), self.sending, datetime.now(UTC)
                )
            DELIVERIES.labels(SERVICE, "unknown").inc(lost)
            UNKNOWN_OUTCOMES.labels(SERVICE, "crash").inc(lost)
            self._last_sweep = time.monotonic()
        owner = self.heartbeat.instance_id if self.heartbeat else None
        if self._claim_in_doubt and owner is not None:
            async with self.runtime.unit_of_work() as uow:
                released = await recovery.release_unheld(
                    stores(uow.conn), owner, sorted(self._held), datetime.now(UTC)
                )
            CLAIMS_RELEASED.labels(SERVICE).inc(released)
        self._claim_in_doubt = False
        free = self.concurrency - len(self._in_flight)
        self._full = False
        self._capped = free <= 0
        if free <= 0:
            return 0
        limit = min(self.batch_size, free)
        self._claim_in_doubt = True
        started = time.monotonic()
        async with self.runtime.unit_of_work() as uow:
            claims = await claim.claim_ready(
                uow,
                stores(uow.conn),
                self.sending,
                datetime.now(UTC),
                limit=limit,
                lease=self.lease_seconds,
                owner=owner,
                lead=self._lead.seconds,
            )
        self._claim_in_doubt = False
        self._full = len(claims) >= limit
        self._capped = len(claims) >= free
        self._lead.observe(time.monotonic() - started)
        for c in claims:
            task = asyncio.create_task(self._deliver(c))
            self._in_flight.add(task)
            self._held.add(c.delivery.delivery_id)
            self._unsent[c.delivery.delivery_id] = task
            task.add_done_callback(self._done)
        return len(claims)

    async def wait_idle(self) -> None:
        """Until every started call has settled (tests)."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._capped:
            self.wake()  # the concurrency held the last claim back: room for one more now

    async def _deliver(self, c: Claim) -> None:
        try:
            await self._call_and_settle(c)
        finally:
            self._held.discard(c.delivery.delivery_id)

    async def _call_and_settle(self, c: Claim) -> None:
        try:
            refused = await call.wait_for_slot(self.sending, c)
        finally:
            self._unsent.pop(c.delivery.delivery_id, None)
        try:
            called = await call.call_telegram(self.sending, c, refused)
        except Exception:
            # Not a Telegram answer but a bug: the call may have left, so it is unknown.
            log.exception("calling Telegram for %s failed", c.delivery.delivery_id)
            called = call.Called(c, _NO_ANSWER)
        settlement = await asyncio.shield(self._submit(called))
        if settlement is not None and settlement.settled in _AGAIN_NOW:
            self.wake()  # its next part (or the chat's new id) is due now
        if settlement is not None and settlement.settled.final:
            DELIVERIES.labels(SERVICE, settlement.settled.value).inc()
            if settlement.settled is Settled.UNKNOWN:
                UNKNOWN_OUTCOMES.labels(SERVICE, called.answer.summary).inc()

    def _submit(self, called: call.Called) -> asyncio.Future[Settlement | None]:
        """Hand an answer to the settler; the future is its settlement."""
        settled: asyncio.Future[Settlement | None] = asyncio.get_running_loop().create_future()
        self._answers.put_nowait((called, settled))
        if called.answer.error_code is not None:
            # A 429 pauses its bot on settling, another error may move its breaker: at once.
            self._urgent.set()
        return settled

    async def _settle_answers(self) -> None:
        """Settle every answer that has arrived, in one unit of work per batch."""
        while True:
            batch = [await self._answers.get()]
            await self._linger()
            while len(batch) < self.settle_batch_size and not self._answers.empty():
                batch.append(self._answers.get_nowait())
            SETTLE_BATCH.labels(SERVICE).observe(len(batch))
            settlements: list[Settlement | None]
            try:
                settlements = list(await self._settle([called for called, _ in batch]))
            except Exception:
                # A bug, not an outage: one by one, so one bad answer holds up no other.
                settlements = [await self._settle_alone(called) for called, _ in batch]
            await self._record_health()
            for (_, future), settlement in zip(batch, settlements, strict=True):
                if not future.done():
                    future.set_result(settlement)

    async def _linger(self) -> None:
        """Let more answers arrive before a batch is written, unless one is urgent."""
        full = self._answers.qsize() + 1 >= self.settle_batch_size
        if self.settle_linger_seconds > 0 and not full and not self._urgent.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settle_linger_seconds):
                    await self._urgent.wait()
        self._urgent.clear()

    async def _record_health(self) -> None:
        """Write the answers that move a bot's shared breaker, in a transaction of their own
        (nothing else waits on its row locks); kept for the next batch if it fails."""
        noted = self.sending.local.breakers.take()
        if not noted:
            return
        try:
            async with self.runtime.unit_of_work() as uow:
                await breakers.record_health(stores(uow.conn), self.sending, noted)
        except DATABASE_ERRORS:
            log.warning("could not record %d answers in the breakers; later", len(noted))
            self.sending.local.breakers.untake(noted)
        except Exception:
            # A bug, not an outage: the settler goes on; a probe held is freed by its lease.
            log.exception("recording %d answers in the breakers failed", len(noted))

    async def _settle_alone(self, called: call.Called) -> Settlement | None:
        try:
            return (await self._settle([called]))[0]
        except Exception:
            # Left 'sending' and held by this live instance; once it is gone, the sweep
            # settles it as unknown. Never sent twice.
            log.exception("settling %s failed", called.claim.delivery.delivery_id)
            return None

    async def _settle(self, calls: list[call.Called]) -> list[Settlement]:
        """Record the answers, retrying through a database outage until they land."""
        failures = 0
        while True:
            try:
                async with self.runtime.unit_of_work() as uow:
                    return await settle.settle_calls(
                        uow, stores(uow.conn), self.sending, calls, datetime.now(UTC)
                    )
            except DATABASE_ERRORS as exc:
                failures += 1
                delay = restart_delay(failures, 0.1, SETTLE_BACKOFF_MAX_SECONDS)
                log.warning(
                    "settling %d answers failed %d times (%r); retrying in %.1fs",
                    len(calls),
                    failures,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _run(self) -> None:
        await work_until_idle(
            self._loop,
            self._claimed_any,
            max_idle=self.max_idle_seconds,
            # Due but not claimed means a paced chat or a spent token budget: look again
            # soon, not in a busy loop.
            next_due=self._next_ready_at,
            min_sleep=MIN_SLEEP_SECONDS,
        )

    async def _claimed_any(self) -> bool:
        """Whether to claim again at once: only after a claim that took all it asked for; a
        smaller one took everything claimable now."""
        await self.run_once()
        return self._full

    async def _next_ready_at(self) -> datetime | None:
        async with self.runtime.pool.acquire() as conn:
            due = await DeliveryRepository(conn).next_ready_at()
        now = datetime.now(UTC)
        if due is None or due > now:
            return due
        return now + timedelta(seconds=self.recheck_seconds)  # due, yet not claimable

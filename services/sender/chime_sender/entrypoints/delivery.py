"""The loop that sends: claim ready deliveries, call Telegram outside any transaction,
settle each outcome. The rules are in handlers; this is scheduling and concurrency.

A database error ends the loop's body; its supervisor logs it and starts it again with
backoff. An outcome Telegram gave is kept in memory and its settling retried, with backoff,
until it is recorded: a database outage delays it, never turns it into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import Span

from chime_kit.db import DATABASE_ERRORS
from chime_kit.loops import BackgroundLoop, restart_delay
from chime_kit.runtime import Runtime
from chime_sender import calling, claiming, handlers
from chime_sender.adapters.postgres import NEW_DELIVERY_CHANNEL, DeliveryRepository
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.outcomes import CallResult
from chime_sender.entrypoints.heartbeat import Heartbeat
from chime_sender.metrics import BREAKER_STATE, CLAIMS_RELEASED, DELIVERIES

log = logging.getLogger(__name__)
_FINAL = frozenset({"sent", "failed", "blocked", "dead", "unknown"})
MIN_SLEEP_SECONDS = 0.02
_NO_ANSWER = CallResult(ok=False, transport_error="no_answer")
SETTLE_BACKOFF_MAX_SECONDS = 2.0


class DeliveryLoop:
    def __init__(
        self,
        runtime: Runtime,
        sending: calling.Sending,
        *,
        batch_size: int,
        concurrency: int,
        lease_seconds: float,
        max_idle_seconds: float,
        sweep_seconds: float = 1.0,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.runtime = runtime
        self.sending = sending
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_idle_seconds = max_idle_seconds
        self.sweep_seconds = sweep_seconds
        self.heartbeat = heartbeat
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
        self._loop.start()

    async def stop(self, grace_seconds: float = 20.0) -> None:
        await self._loop.stop()
        await self._release_unsent()
        # Calls in flight finish and settle; cancelling one would leave its outcome unknown.
        if self._in_flight:
            _, late = await asyncio.wait(self._in_flight, timeout=grace_seconds)
            for task in late:
                task.cancel()
        if self._listener is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                await self._listener.close()

    async def _release_unsent(self) -> None:
        """Give back the claims not called yet: pending again at once, for any replica."""
        if not self._unsent or self.heartbeat is None:
            return
        unsent = dict(self._unsent)
        for task in unsent.values():
            task.cancel()  # it is waiting for its slot: nothing has left
        await asyncio.wait(unsent.values())
        try:
            async with self.runtime.unit_of_work() as uow:
                released = await handlers.release_unsent(
                    uow, self.heartbeat.instance_id, list(unsent), datetime.now(UTC)
                )
        except DATABASE_ERRORS:
            # Left to the sweep of this dead instance: their slots are past its promise.
            log.exception("could not give back %d unsent claims", len(unsent))
            return
        CLAIMS_RELEASED.labels("sender").inc(released)

    async def run_once(self) -> int:
        """Sweep expired leases (now and then), claim what is ready, start its calls."""
        if time.monotonic() - self._last_sweep >= self.sweep_seconds:
            async with self.runtime.unit_of_work() as uow:
                lost = await handlers.expire_leases(uow, datetime.now(UTC))
            DELIVERIES.labels("sender", "unknown").inc(lost)
            self._last_sweep = time.monotonic()
        owner = self.heartbeat.instance_id if self.heartbeat else None
        if self._claim_in_doubt and owner is not None:
            async with self.runtime.unit_of_work() as uow:
                released = await handlers.release_unheld(
                    uow, owner, sorted(self._held), datetime.now(UTC)
                )
            CLAIMS_RELEASED.labels("sender").inc(released)
        self._claim_in_doubt = False
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        self._claim_in_doubt = True
        async with self.runtime.unit_of_work() as uow:
            claims = await claiming.claim_ready(
                uow,
                self.sending,
                datetime.now(UTC),
                limit=min(self.batch_size, free),
                lease=self.lease_seconds,
                owner=owner,
            )
        self._claim_in_doubt = False
        for claim in claims:
            task = asyncio.create_task(self._deliver(claim))
            self._in_flight.add(task)
            self._held.add(claim.delivery.delivery_id)
            self._unsent[claim.delivery.delivery_id] = task
            task.add_done_callback(self._done)
        return len(claims)

    async def wait_idle(self) -> None:
        """Until every started call has settled (tests)."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.wake()

    async def _deliver(self, claim: Claim) -> None:
        try:
            await self._call_and_settle(claim)
        finally:
            self._held.discard(claim.delivery.delivery_id)

    async def _call_and_settle(self, claim: Claim) -> None:
        try:
            usable = await calling.wait_for_slot(self.sending, claim)
        finally:
            self._unsent.pop(claim.delivery.delivery_id, None)
        try:
            result, span = await calling.call_telegram(self.sending, claim, usable)
        except Exception:
            # Not a Telegram answer but a bug: the call may have left, so it is unknown.
            log.exception("calling Telegram for %s failed", claim.delivery.delivery_id)
            result, span = _NO_ANSWER, trace.INVALID_SPAN
        try:
            outcome = await self._settle(claim, result, span)
        except Exception:
            # A bug, not an outage: left 'sending' and held by this live instance; once it
            # is gone, the sweep settles it as unknown. Never sent twice.
            log.exception("settling %s failed", claim.delivery.delivery_id)
            return
        if outcome in _FINAL:
            DELIVERIES.labels("sender", outcome).inc()
        bot_id = claim.delivery.bot_id
        state = self.sending.breakers.of(bot_id).state
        BREAKER_STATE.labels("sender", str(bot_id)).set(state.value)

    async def _settle(self, claim: Claim, result: CallResult, span: Span) -> str:
        """Record the outcome, retrying through a database outage until it lands."""
        failures = 0
        while True:
            try:
                # Events recorded here carry the Telegram call's trace context.
                with trace.use_span(span, end_on_exit=False):
                    async with self.runtime.unit_of_work() as uow:
                        return await handlers.settle(
                            uow, self.sending, claim, result, datetime.now(UTC)
                        )
            except DATABASE_ERRORS as exc:
                failures += 1
                delay = restart_delay(failures, 0.1, SETTLE_BACKOFF_MAX_SECONDS)
                log.warning(
                    "settling %s (%s) failed %d times (%r); retrying in %.1fs",
                    claim.delivery.delivery_id,
                    result.summary,
                    failures,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _run(self) -> None:
        while True:
            self._loop.clear()
            claimed = await self.run_once()
            if claimed > 0:
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        timeout = self.max_idle_seconds
        async with self.runtime.pool.acquire() as conn:
            next_ready = await DeliveryRepository(conn).next_ready_at()
        if next_ready is not None:
            # Due but not claimed means a paced chat or a spent token budget: look again
            # soon, not in a busy loop.
            until = (next_ready - datetime.now(UTC)).total_seconds()
            timeout = min(timeout, max(MIN_SLEEP_SECONDS, until))
        await self._loop.sleep(timeout)

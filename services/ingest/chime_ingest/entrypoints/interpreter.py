"""The interpreter: claims accepted updates from ingest's own queue table and interprets them.

Each round claims up to `batch_size` waiting updates: the first of each chat (FOR UPDATE
SKIP LOCKED, so replicas and loops share the work and a chat's updates are interpreted by
one of them at a time, in arrival order), then what follows them in those chats. It
interprets them in `seq` order in one transaction and deletes their queue rows in it: an
update is interpreted once, or not at all when the process dies before the commit (its row
locks go with the session and another round claims it again).

If the batch fails it is rolled back to a savepoint and its updates are interpreted one by
one, each in a savepoint of the same transaction (the claims stay held): the failing one is
put back with a growing delay, its chat's later updates (claimed or not) waiting behind it;
after
`max_attempts` it is marked poison and its chat goes on. An unreachable database is not an
update's fault: the round is dropped whole and the loop starts again after a backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from chime_ingest import handlers
from chime_ingest.adapters.update_log import Claimed, UpdateLog
from chime_ingest.domain.pools import NO_POOLS, Pools
from chime_ingest.metrics import INTERPRETED
from chime_kit.loops import BackgroundLoop, work_until_idle
from chime_kit.runtime import Runtime
from chime_kit.telemetry import context_from, mark_service
from chime_kit.unit_of_work import Transaction, transaction
from chime_kit.unreachable import dependency_unavailable

log = logging.getLogger(__name__)
tracer = trace.get_tracer("chime.ingest")


def retry_delay(attempts: int) -> float:
    """Seconds before a failed update is tried again: 1, 2, 4... at most a minute."""
    return float(min(60, 2 ** max(0, attempts - 1)))


class Interpreter:
    def __init__(
        self,
        runtime: Runtime,
        default_time_zone: str,
        *,
        batch_size: int = 200,
        max_attempts: int = 5,
        idle_seconds: float = 0.5,
        name: str = "ingest-interpreter",
        pools: Pools = NO_POOLS,
    ) -> None:
        self.runtime = runtime
        self.default_time_zone = default_time_zone
        self.pools = pools
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.idle_seconds = idle_seconds
        self.loop = runtime.watch(BackgroundLoop(name, self._run))

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    def wake(self) -> None:
        """Updates were stored: look now, not at the next idle poll."""
        self.loop.wake()

    async def _run(self) -> None:
        # Only a round that found nothing sleeps: one a busy chat's updates fill only partly
        # is followed at once (a failed update's delay passes within the idle poll).
        await work_until_idle(self.loop, self._found_work, max_idle=self.idle_seconds)

    async def _found_work(self) -> bool:
        return await self.round() > 0

    async def round(self) -> int:
        """Claim and interpret one batch; how many updates it claimed."""
        runtime = self.runtime
        async with transaction(runtime.pool, "ingest", after_commit=runtime.relay.wake) as tx:
            updates = UpdateLog(tx.conn)
            claimed = await updates.claim(self.batch_size)
            if not claimed:
                return 0
            try:
                async with tx.savepoint():
                    await self._interpret(tx, claimed)
            except Exception as exc:
                if dependency_unavailable(exc):
                    raise
                await self._one_by_one(tx, updates, claimed, exc)
            else:
                INTERPRETED.labels("interpreted").inc(len(claimed))
            return len(claimed)

    async def _one_by_one(
        self, tx: Transaction, updates: UpdateLog, claimed: Sequence[Claimed], exc: Exception
    ) -> None:
        if len(claimed) == 1:
            await self._failed(updates, claimed[0], exc)
            return
        log.warning("interpreting %d updates failed (%r); one by one now", len(claimed), exc)
        stalled: set[tuple[int, int]] = set()  # chats whose update failed: the rest wait
        for one in claimed:
            chat = (one.bot_id, one.chat_key) if one.chat_key is not None else None
            if chat in stalled:
                continue
            try:
                async with tx.savepoint():
                    await self._interpret(tx, [one])
            except Exception as failure:
                if dependency_unavailable(failure):
                    raise
                await self._failed(updates, one, failure)
                if chat is not None:
                    stalled.add(chat)
            else:
                INTERPRETED.labels("interpreted").inc()

    async def _interpret(self, tx: Transaction, claimed: Sequence[Claimed]) -> None:
        for one in claimed:
            receipt = handlers.receipt_of(one)
            headers = {"traceparent": one.traceparent} if one.traceparent else None
            with tracer.start_as_current_span(
                "interpret update", context=context_from(headers), kind=SpanKind.CONSUMER
            ) as span:
                mark_service(span, "ingest")
                await handlers.interpret_update(
                    tx.unit(receipt), receipt, self.default_time_zone, self.pools
                )
        await UpdateLog(tx.conn).interpreted([one.seq for one in claimed])

    async def _failed(self, updates: UpdateLog, one: Claimed, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        attempts = one.attempts + 1
        if attempts >= self.max_attempts:
            log.error(
                "update %s of bot %s failed %d times, marked poison: %s",
                one.update_id, one.bot_id, attempts, error, exc_info=exc,
            )  # fmt: skip
            await updates.poisoned(one, error)
            INTERPRETED.labels("poison").inc()
            return
        delay = retry_delay(attempts)
        log.warning(
            "update %s of bot %s failed (%s); again in %.0fs, its chat waits",
            one.update_id, one.bot_id, error, delay, exc_info=exc,
        )  # fmt: skip
        await updates.failed(one, error, delay)
        INTERPRETED.labels("failed").inc()
